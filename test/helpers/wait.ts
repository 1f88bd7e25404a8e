// Bounded waiting: a test waits for the condition it needs (a listener, a socket, a lock held, a
// process gone), polling it, and fails saying what it waited for when the bound passes. Never a
// fixed sleep for readiness: what is ready in 300 ms here takes seconds under qemu's TCG.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

/** Block the thread for `ms` (for synchronous set-ups); only between polls of a condition. */
export const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Wait until `cond` holds (polled every `everyMs`), or throw naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000, everyMs = 20): Promise<void> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, everyMs))) {
    if (await cond()) return;
    if (Date.now() >= end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}

/** `until` for synchronous code: blocks the thread between polls. */
export function untilSync(cond: () => boolean, what: string, ms = 10_000, everyMs = 20): void {
  for (const end = Date.now() + ms; ; sleepSync(everyMs)) {
    if (cond()) return;
    if (Date.now() >= end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}

/** The first value `get` returns that is not undefined, polled like `until`. */
export async function untilValue<T>(get: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000, everyMs = 20): Promise<T> {
  let v: T | undefined;
  await until(async () => (v = await get()) !== undefined, what, ms, everyMs);
  return v!;
}

/** Processes waiting for a flock on `file` (the "->" lines of /proc/locks). */
export function lockWaiters(file: string): number {
  const ino = fs.statSync(file).ino;
  return fs.readFileSync("/proc/locks", "utf8").split("\n").filter((l) => l.includes("->") && l.split(/\s+/).some((f) => f.endsWith(`:${ino}`))).length;
}

/** Whether another process holds a flock on `file` (a non-blocking flock(1) fails). */
export const lockHeld = (file: string): boolean => spawnSync("flock", ["-n", file, "true"]).status !== 0;
