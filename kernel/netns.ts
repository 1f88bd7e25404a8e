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
  return threadNsPath("net");
}

/** The calling thread's namespace of `kind` (each thread has its own: setns moves one thread). */
export function threadNsPath(kind: "net" | "mnt"): string {
  return `/proc/self/task/${native().gettid()}/ns/${kind}`;
}

/**
 * Move the calling thread into the network namespace behind `fd` and leave it there. Nothing on
 * the CNI path does this (withNetns always switches back): the daemon's fault injection uses it to
 * show that a worker left elsewhere is replaced.
 */
export function strandInNetns(fd: number): void {
  native().setns(fd, CLONE_NEWNET);
}

// The resident daemon (cli/daemon) receives CNI_NETNS as an open fd from the caller, whose mount
// namespace may differ from the daemon's: for the length of one request, the path the plugins see
// opens that fd instead. Requests run one at a time, so one alias at a time suffices.
let alias: { path: string; fdPath: string } | undefined;

/**
 * From now on `nsPath` opens the descriptor `fd` (of this process) instead, until the function
 * returned is called (synchronous, as all of kernel/: the caller awaits its request in between).
 */
export function aliasNetns(nsPath: string, fd: number): () => void {
  if (alias) throw new Error("aliasNetns: requests must not overlap");
  const mine = { path: nsPath, fdPath: `/proc/self/fd/${fd}` };
  alias = mine;
  return () => {
    if (alias === mine) alias = undefined;
  };
}

/** What opening `nsPath` opens: the aliased fd during a daemon request, else the path itself. */
export const resolveNetnsPath = (nsPath: string) => (alias && nsPath === alias.path ? alias.fdPath : nsPath);

/** statfs f_type of the namespace file system (a bind-mounted or /proc/<pid>/ns namespace file). */
export const NSFS_MAGIC = 0x6e736673;
/** statfs f_type of procfs, where kernels before 3.19 kept namespace files. */
export const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Code 8 for a CNI_NETNS that cannot be entered, saying why: "missing" (nothing at the path: DEL
 * takes the namespace as already gone) or "not-a-namespace" (something else is there: an error
 * for every command, as the reference's ns package has it).
 */
export class NetnsError extends CniError {
  constructor(
    readonly reason: "missing" | "not-a-namespace",
    msg: string,
    details = "",
  ) {
    super(Code.InvalidNetNS, msg, details);
  }
}

/** The namespace path does not exist: the only netns error DEL treats as "already done". */
export const isNetnsMissing = (e: unknown): e is NetnsError => e instanceof NetnsError && e.reason === "missing";

/**
 * A netns path is a namespace file when it lives on nsfs (or procfs, on old kernels); what it is
 * a namespace of, setns() checks. Checked by the file system it is on, as the reference's ns
 * package does, so that a missing path and a path to something else are told apart.
 */
function checkNetnsPath(nsPath: string): void {
  let type: number;
  try {
    type = fs.statfsSync(resolveNetnsPath(nsPath)).type;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    if (missing) throw new NetnsError("missing", `netns "${nsPath}" does not exist`, (e as Error).message);
    throw new CniError(Code.InvalidNetNS, `failed to open netns "${nsPath}"`, (e as Error).message);
  }
  if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC) {
    throw new NetnsError("not-a-namespace", `"${nsPath}" is not a network namespace`, `it is on a file system of type 0x${type.toString(16)}, not nsfs`);
  }
}

/** Open a netns path (bind mount like /var/run/netns/x, or /proc/<pid>/ns/net); code 8 if it is not one (NetnsError). */
export function openNetns(nsPath: string): number {
  checkNetnsPath(nsPath);
  try {
    return fs.openSync(resolveNetnsPath(nsPath), fs.constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NetnsError("missing", `netns "${nsPath}" does not exist`, (e as Error).message);
    throw new CniError(Code.InvalidNetNS, `failed to open netns "${nsPath}"`, (e as Error).message);
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
      // A namespace, but not a network namespace (a mount or pid namespace file).
      if (isSysError(e, "EINVAL")) throw new NetnsError("not-a-namespace", `"${nsPath}" is not a network namespace`);
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
