// Network namespaces. setns() moves only the calling thread, so everything run inside a
// namespace must be synchronous: switch, do the work (open a socket, write /proc/sys), switch
// back. Netlink sockets keep the namespace they were created in, so most work happens on a
// socket opened this way, from the original namespace.
import * as fs from "node:fs";
import { CniError, Code } from "../core/errors";
import { isSysError, native } from "./native";

export const CLONE_NEWNET = 0x40000000;

/** The calling thread's current network namespace (main thread: the process's). */
export function currentNetnsPath(): string {
  return `/proc/self/task/${native().gettid()}/ns/net`;
}

// The resident daemon (cli/daemon) receives CNI_NETNS as an open fd from the caller, whose mount
// namespace may differ from the daemon's: for the length of one request, the path the plugins see
// opens that fd instead. Requests run one at a time, so one alias at a time suffices.
let alias: { path: string; fdPath: string } | undefined;

/** Run `fn` with `nsPath` opening the descriptor `fd` (of this process) instead; undone afterwards. */
export async function withNetnsAlias<T>(nsPath: string, fd: number, fn: () => Promise<T>): Promise<T> {
  if (alias) throw new Error("withNetnsAlias: requests must not overlap");
  alias = { path: nsPath, fdPath: `/proc/self/fd/${fd}` };
  try {
    return await fn();
  } finally {
    alias = undefined;
  }
}

/** What opening `nsPath` opens: the aliased fd during a daemon request, else the path itself. */
export const resolveNetnsPath = (nsPath: string) => (alias && nsPath === alias.path ? alias.fdPath : nsPath);

/** Open a netns path (bind mount like /var/run/netns/x, or /proc/<pid>/ns/net); CNI code 8 if unusable. */
export function openNetns(nsPath: string): number {
  let fd: number;
  try {
    fd = fs.openSync(resolveNetnsPath(nsPath), fs.constants.O_RDONLY);
  } catch (e) {
    throw new CniError(Code.InvalidNetNS, `failed to open netns "${nsPath}"`, (e as Error).message);
  }
  // Verify it really is a network namespace: setns with the type checks that for us, but a
  // regular file would only fail later. Compare with NS_GET_NSTYPE-free check via fstat: nsfs
  // files live on the nsfs filesystem and report a zero size; a stronger check happens in setns.
  const st = fs.fstatSync(fd);
  if (!st.isFile() && !st.isCharacterDevice() && !isNsfs(resolveNetnsPath(nsPath))) {
    fs.closeSync(fd);
    throw new CniError(Code.InvalidNetNS, `"${nsPath}" is not a network namespace`);
  }
  return fd;
}

function isNsfs(p: string): boolean {
  try {
    return fs.readlinkSync(p).startsWith("net:[");
  } catch {
    return false;
  }
}

/**
 * Run `fn` with the calling thread inside the namespace at `nsPath`, then switch back.
 * `fn` must be synchronous: awaiting would let other work run in the wrong namespace.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const target = openNetns(nsPath);
  let origin: number | undefined;
  try {
    origin = fs.openSync(currentNetnsPath(), fs.constants.O_RDONLY);
    try {
      native().setns(target, CLONE_NEWNET);
    } catch (e) {
      if (isSysError(e, "EINVAL")) throw new CniError(Code.InvalidNetNS, `"${nsPath}" is not a network namespace`);
      throw e;
    }
    try {
      const out = fn();
      if (out && typeof (out as { then?: unknown }).then === "function") {
        throw new Error("withNetns callback must be synchronous");
      }
      return out;
    } finally {
      // If switching back fails the process is in an unknown namespace: stop rather than continue.
      try {
        native().setns(origin, CLONE_NEWNET);
      } catch (e) {
        process.stderr.write(`fatal: cannot return to the original network namespace: ${(e as Error).message}\n`);
        process.exit(70);
      }
    }
  } finally {
    fs.closeSync(target);
    if (origin !== undefined) fs.closeSync(origin);
  }
}

/** An identity for a netns (device:inode of its nsfs file), to tell whether two paths are the same. */
export function netnsId(nsPath: string): string {
  const st = fs.statSync(resolveNetnsPath(nsPath));
  return `${st.dev}:${st.ino}`;
}
