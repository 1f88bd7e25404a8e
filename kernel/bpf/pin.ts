// bpffs and pin directories. Pins live in the mount namespace's bpffs, NOT per network namespace:
// two containers with the same interface name in different netns would collide, so every
// attachment gets its own directory named by something unique (container id + ifname).
import * as fs from "node:fs";
import * as path from "node:path";
import { native } from "../native";
import { BPFFS_ROOT, BPF_FS_MAGIC } from "./constants";
import { CniError, Code } from "../../core/errors";
import { loaderError } from "./errors";

export function isBpffs(dir: string): boolean {
  try {
    return fs.statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Make sure a bpffs is mounted at `root` (default /sys/fs/bpf), mounting one if needed. We mount
 * only where the mount is known to outlive us, the initial mount namespace. Anywhere else (e.g.
 * under `ip netns exec`, which remounts /sys in a private mount namespace) a bpffs we mounted would
 * vanish with this process and take every pin with it, TCX links included: an ADD would report
 * success with no limit in force. A bpffs someone else mounted is used wherever we are.
 */
export function ensureBpffs(root = BPFFS_ROOT): string {
  if (isBpffs(root)) return root;
  if (!inInitialMountNamespace()) {
    throw new CniError(Code.PluginNotAvailable, `${root} is not a bpf filesystem, and a bpffs mounted from this mount namespace would vanish when this process exits (taking the limits with it)`,
      `mount bpffs on ${root} in the host's mount namespace (mount -t bpf bpf ${root}), or run the plugin in it (nsenter --net rather than ip netns exec)`);
  }
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  try {
    native().mount("bpf", root, "bpf", 0, "mode=0700");
  } catch (e) {
    // Another process may have mounted it between our check and our mount.
    if (!isBpffs(root)) throw e;
  }
  return root;
}

/** The fixed inode of the initial mount namespace (kernels that number initial namespaces, as 6.18 does). */
const PROC_MNT_INIT_INO = 0xeffffff8;

/** True only when known: pid 1's mount namespace is ours, or ours has the initial namespace's fixed inode. */
export function inInitialMountNamespace(): boolean {
  try {
    return fs.readlinkSync("/proc/self/ns/mnt") === fs.readlinkSync("/proc/1/ns/mnt");
  } catch {
    /* /proc/1 unreadable: no CAP_SYS_PTRACE over pid 1, or another pid namespace */
  }
  try {
    return fs.statSync("/proc/self/ns/mnt").ino === PROC_MNT_INIT_INO;
  } catch {
    return false;
  }
}

/** One path component: no separators, no dot-names, at most NAME_MAX bytes, so config can't escape the pin root. */
export function pinComponent(s: string): string {
  if (!s || s === "." || s === ".." || s.includes("/") || s.includes("\0") || Buffer.byteLength(s) > 255) {
    throw loaderError(`invalid pin path component "${s}"`);
  }
  return s;
}

/**
 * Create root/part1/part2/... on bpffs (mode 0700), mounting bpffs at /sys/fs/bpf first when the
 * root is under it (ensureBpffs). Any other root must already be on a bpffs: pinning elsewhere
 * fails with EPERM, a confusing error to debug. Returns the directory.
 */
export function makePinDir(root: string, ...parts: string[]): string {
  if (root === BPFFS_ROOT || root.startsWith(`${BPFFS_ROOT}/`)) ensureBpffs(BPFFS_ROOT);
  const dir = path.join(root, ...parts.map(pinComponent));
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // bpffs refuses names with a dot (EPERM): only the configured root can contain one here.
    if ((e as NodeJS.ErrnoException).code === "EPERM" && dir.includes(".")) {
      throw new CniError(Code.InvalidNetworkConfig, `cannot create ${dir} on bpffs`, "bpffs refuses names containing '.': choose a pinRoot without dots below the bpffs mount");
    }
    throw e;
  }
  if (!isBpffs(dir)) throw new CniError(Code.PluginNotAvailable, `${dir} is not on a bpf filesystem`, "pinRoot must be on a mounted bpffs");
  return dir;
}

/**
 * Remove a pin directory and every pin in it. Unlinking a pin drops only the pin's reference:
 * a pinned TCX link must be detached first (tcx.ts detachPinnedLink) or it keeps running as long
 * as something else holds it. Missing directories are fine (DEL must be idempotent).
 */
export function removePinDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The pin file names used by the helpers, so every writer and reader agrees. */
export const pinName = {
  map: (name: string) => `map_${pinComponent(name)}`,
  prog: (name: string) => `prog_${pinComponent(name)}`,
  link: (name: string) => `link_${pinComponent(name)}`,
};
