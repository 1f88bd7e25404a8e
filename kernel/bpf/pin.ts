// bpffs and pin directories. Pins live in the mount namespace's bpffs, NOT per network namespace:
// two containers with the same interface name in different netns would collide, so every
// attachment gets its own directory named by something unique (container id + ifname).
import * as fs from "node:fs";
import * as path from "node:path";
import { native } from "../native";
import { BPFFS_ROOT, BPF_FS_MAGIC } from "./constants";
import { loaderError } from "./errors";

export function isBpffs(dir: string): boolean {
  try {
    return fs.statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Make sure a bpffs is mounted at `root` (default /sys/fs/bpf), mounting one if needed. */
export function ensureBpffs(root = BPFFS_ROOT): string {
  if (isBpffs(root)) return root;
  // A bpffs mounted inside a private mount namespace (e.g. under `ip netns exec`, which remounts
  // /sys) dies with this process and takes every pin with it: shaping state would be lost on exit.
  if (!inInitialMountNamespace()) {
    throw loaderError(`${root} is not a bpf filesystem in this mount namespace, and one mounted here would vanish when this process exits; mount bpffs on ${root} in the host's mount namespace (or run the plugin there, e.g. with nsenter --net instead of ip netns exec)`);
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

function inInitialMountNamespace(): boolean {
  try {
    return fs.readlinkSync("/proc/self/ns/mnt") === fs.readlinkSync("/proc/1/ns/mnt");
  } catch {
    return true; // cannot tell (no /proc/1 access): keep the old behaviour
  }
}

/** One path component: no separators, no dot-names, bounded, so config can't escape the pin root. */
export function pinComponent(s: string): string {
  if (!s || s === "." || s === ".." || s.includes("/") || s.includes("\0") || s.length > 200) {
    throw loaderError(`invalid pin path component "${s}"`);
  }
  return s;
}

/** Create (if needed) root/part1/part2/... on bpffs; mode 0700. Returns the directory. */
export function pinDir(root: string, ...parts: string[]): string {
  // Our default root lives on the standard mount, which we create if missing; any other root must
  // already be on a bpffs (pinning elsewhere fails with EPERM, a confusing error to debug).
  if (root === BPFFS_ROOT || root.startsWith(`${BPFFS_ROOT}/`)) ensureBpffs(BPFFS_ROOT);
  const dir = path.join(root, ...parts.map(pinComponent));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isBpffs(dir)) throw loaderError(`${dir} is not on a bpf filesystem`);
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
