// File primitives for host-local's store that never follow a symbolic link to write. A directory
// is opened once with O_NOFOLLOW and its files are then reached through /proc/self/fd/<fd>/<name>:
// swapping the directory for a symlink after we opened it cannot redirect a write elsewhere.
// Final components are opened with O_NOFOLLOW, and with O_EXCL when we create them; reads never
// block on a FIFO and only return regular files.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;

export const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/** Code 5 saying what failed on which file, the errno in details; CniErrors pass through. */
export const storeError = (what: string, e: unknown) =>
  e instanceof CniError ? e : new CniError(Code.IOFailure, `host-local store: ${what}`, errno(e) ?? String(e));

/** Out of inodes, blocks or quota: what our optional files give way on. */
export const isSpaceError = (e: unknown) => errno(e) === "ENOSPC" || errno(e) === "EDQUOT";

/** Run `fn`; when the file system is full, let `free` give our optional files' room back and run it once more. */
export function withRoom<T>(fn: () => T, free: () => void): T {
  try {
    return fn();
  } catch (e) {
    if (!isSpaceError(e)) throw e;
    free();
    return fn();
  }
}

/** Whether /proc/self/fd can anchor paths (checked once per process). */
let procFd: boolean | undefined;

export class Dir {
  private constructor(
    readonly fd: number,
    /** The path as configured, for messages. */
    readonly shown: string,
    private readonly base: string,
  ) {}

  /** Open the directory `p`; a symlink fails with ELOOP, anything else but a directory with ENOTDIR. */
  static open(p: string): Dir {
    const fd = fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    procFd ??= fs.existsSync(`/proc/self/fd/${fd}`);
    return new Dir(fd, p, procFd ? `/proc/self/fd/${fd}` : p);
  }

  /** The path of `name` in this directory for system calls (the directory itself without a name). */
  at(name?: string): string {
    return name === undefined ? this.base : `${this.base}/${name}`;
  }

  /** The path of `name` for messages. */
  show(name: string): string {
    return path.join(this.shown, name);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export function unlinkQuiet(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch {
    /* absent, or not ours to remove: the caller copes */
  }
}

export function writeAll(fd: number, data: string): void {
  const buf = Buffer.from(data);
  for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Create `p` holding `content` (O_EXCL|O_NOFOLLOW); a partly written file is removed again. */
export function writeNew(p: string, content: string, mode = 0o644): void {
  const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    writeAll(fd, content);
  } catch (e) {
    unlinkQuiet(p); // ours: O_EXCL made it
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** The bytes of the regular file `p`; undefined for a symlink, FIFO, directory, or any error. */
export function readBuffer(p: string): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

export const readText = (p: string): string | undefined => readBuffer(p)?.toString("utf8");

/**
 * The text of the regular file `p`, for DEL, GC and CHECK: undefined only when there definitely is
 * no such file (ENOENT), or it is not a regular file (a symlink, refused by O_NOFOLLOW with ELOOP;
 * a socket, ENXIO; a FIFO, directory or device). Any other failure (EACCES, EIO, …) is thrown: a
 * reservation we could not read is not a reservation that is not there.
 */
export function readTextStrict(p: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    if (errno(e) === "ENOENT" || errno(e) === "ELOOP" || errno(e) === "ENXIO") return undefined;
    throw e;
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd, "utf8") : undefined;
  } finally {
    fs.closeSync(fd);
  }
}
