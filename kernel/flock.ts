// Advisory whole-file locks (flock(2)), compatible with the Go reference's store lock: both take
// LOCK_EX on the same file, so our plugin and theirs serialise against each other.
//
// Every wait is bounded (core/request.ts): a lock held by someone else is waited for in slices,
// each a blocking flock that the kernel wakes the moment the holder lets go, so that between
// slices the call can give up when its deadline passes or its caller has gone — a lock held for
// minutes (by a stuck tool, an operator, another plugin) delays only the calls that need it, and
// each of those only until its own deadline.
import * as fs from "node:fs";
import { checkpoint, remainingMs } from "../core/request";
import { native } from "./native";

const LOCK_EX = 2;
const LOCK_UN = 8;
/** How often a waiting call looks at its deadline and its caller. */
const SLICE_MS = 100;

/** Take an exclusive lock on `fd` if it is free this instant; false when someone holds it. */
export function tryLock(fd: number): boolean {
  return native().flockTimed(fd, LOCK_EX, 0);
}

/** Wait for an exclusive lock on `fd`, bounded by the current call; `label` names it in the error. */
export function lockBounded(fd: number, label: string): void {
  const t0 = Date.now();
  for (;;) {
    if (native().flockTimed(fd, LOCK_EX, Math.min(SLICE_MS, remainingMs()))) return;
    checkpoint(`waiting for the lock on ${label}`, `held by another process; waited ${Date.now() - t0} ms`);
  }
}

export class FileLock {
  private constructor(private fd: number | undefined) {}

  /** Open (creating with `mode` if needed) and lock `file` exclusively, waiting as the call allows. */
  static acquire(file: string, mode = 0o644): FileLock {
    return FileLock.adopt(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, mode), file);
  }

  /** Lock the open descriptor `fd` exclusively (bounded wait); the lock owns `fd` and closes it on release or failure. */
  static adopt(fd: number, label = `descriptor ${fd}`): FileLock {
    try {
      lockBounded(fd, label);
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
