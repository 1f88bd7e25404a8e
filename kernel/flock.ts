// Advisory whole-file locks (flock(2)), compatible with the Go reference's store lock: both take
// LOCK_EX on the same file, so our plugin and theirs serialise against each other.
import * as fs from "node:fs";
import { native } from "./native";

const LOCK_EX = 2;
const LOCK_UN = 8;

export class FileLock {
  private constructor(private fd: number | undefined) {}

  /** Open (creating with `mode` if needed) and lock `file` exclusively; blocks until the lock is free. */
  static acquire(file: string, mode = 0o644): FileLock {
    return FileLock.adopt(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, mode));
  }

  /** Lock the open descriptor `fd` exclusively (blocking); the lock owns `fd` and closes it on release or failure. */
  static adopt(fd: number): FileLock {
    try {
      native().flock(fd, LOCK_EX);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new FileLock(fd);
  }

  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      native().flock(fd, LOCK_UN);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Run the synchronous `fn` holding the lock on `file`; released even when `fn` throws. (Plugins
 * hold these locks around synchronous netlink/fs work only, never across an await.)
 */
export function withFileLock<T>(file: string, fn: () => T, mode?: number): T {
  const lock = FileLock.acquire(file, mode);
  try {
    return fn();
  } finally {
    lock.release();
  }
}
