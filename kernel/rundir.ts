// /run/tscni holds what decides when a call runs and who runs it: the daemon's socket and its
// single-instance lock, ebpf-bandwidth's lock, the unpacked addon. Whoever can open a file there
// can flock it, and so hold up every call that takes that lock, for as long as they like; whoever
// can write there can replace the socket or the addon. So the directory is root's and 0700, every
// file in it root's and 0600 (the addon 0500), created by root, and opened without following a
// symbolic link; anything else found there is refused, never used. The shim checks the directory
// the same way before it connects to or starts a daemon (native/shim/tscni_shim.c, run_dir_private).
import * as fs from "node:fs";
import { CniError, Code } from "../core/errors";

export const RUN_DIR = "/run/tscni";

/** What lstat/fstat found, reduced to what the rules below look at. */
export interface Found {
  type: "directory" | "file" | "symlink" | "other";
  uid: number;
  mode: number;
  nlink: number;
}

/** Use it as it is, tighten its mode first (root's, but group or others have bits), or refuse it (why). */
export type Verdict = "use" | "tighten" | { refuse: string };

/** Pure: whether `found` may serve as a private directory or file of root's. */
export function judge(found: Found, want: "directory" | "file"): Verdict {
  if (found.type === "symlink") return { refuse: "is a symbolic link" };
  if (found.type !== want) return { refuse: `is not a ${want === "file" ? "regular file" : "directory"}` };
  if (found.uid !== 0) return { refuse: `is owned by uid ${found.uid}, not root` };
  // A second name elsewhere: tightening the mode would change that file too.
  if (want === "file" && found.nlink > 1) return { refuse: `has ${found.nlink} hard links` };
  return (found.mode & 0o077) === 0 ? "use" : "tighten";
}

export function foundOf(st: fs.Stats): Found {
  const type = st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "directory" : st.isFile() ? "file" : "other";
  return { type, uid: st.uid, mode: st.mode & 0o7777, nlink: st.nlink };
}

const refusal = (what: string, why: string) =>
  new CniError(Code.IOFailure, `refusing ${what}: it ${why}`, `${RUN_DIR} and every file in it must be root's and private to root (0700, 0600)`);

/**
 * /run/tscni, made sure of: a directory (not a symbolic link) owned by root with mode 0700;
 * created so if missing, tightened to 0700 if root's but looser (an earlier build made it 0755),
 * else a CniError saying what is wrong. (Only root can create or replace entries in /run, so
 * nothing can change between the lstat and the chmod.)
 */
export function runDir(): string {
  try {
    fs.mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CniError(Code.IOFailure, `cannot create ${RUN_DIR}`, (e as Error).message);
  }
  const verdict = judge(foundOf(fs.lstatSync(RUN_DIR)), "directory");
  if (verdict === "tighten") fs.chmodSync(RUN_DIR, 0o700);
  else if (verdict !== "use") throw refusal(RUN_DIR, verdict.refuse);
  return RUN_DIR;
}

/**
 * Open (creating, 0600) a root-only file such as a lock under runDir(), read-write, never through
 * a symbolic link; an existing file must be a regular file of root's (tightened to 0600 if looser).
 * Returns the descriptor (close-on-exec: libuv adds O_CLOEXEC to every open), or throws a CniError.
 */
export function openPrivateFile(file: string): number {
  const { O_RDWR, O_CREAT, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw code === "ELOOP" ? refusal(file, "is a symbolic link") : new CniError(Code.IOFailure, `cannot open ${file}`, (e as Error).message);
  }
  try {
    const verdict = judge(foundOf(fs.fstatSync(fd)), "file");
    if (verdict === "tighten") fs.fchmodSync(fd, 0o600);
    else if (verdict !== "use") throw refusal(file, verdict.refuse);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
