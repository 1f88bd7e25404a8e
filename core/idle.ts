// Work a daemon worker does between requests, never during one: registered by plugins, run by
// cli/daemon/worker.ts after each reply, disposed before the worker ends (what it holds are
// process-wide descriptors, which a thread's end does not close). A plugin process never enables
// it, so there it never runs.

export interface IdleWork {
  /** Between requests; bounded and never blocking. A failure is its own (logged, not thrown). */
  run(): void;
  /** Release whatever `run` holds: the worker is about to end. */
  dispose(): void;
  /** Whether `run` has anything to do now (cheap; the worker tells the daemon it is busy with it). */
  pending(): boolean;
}

const works = new Set<IdleWork>();
let enabled = false;

/** Called once by a daemon worker: from now on, idle work is wanted. */
export function enableIdleWork(): void {
  enabled = true;
}

export const idleWorkEnabled = () => enabled;

export function registerIdleWork(w: IdleWork): void {
  works.add(w);
}

/** Whether any registered work has something to do (only where idle work is enabled). */
export function hasIdleWork(): boolean {
  if (!enabled) return false;
  for (const w of works) if (w.pending()) return true;
  return false;
}

/** Run every registered work; returns the failures (for the daemon's log). */
export function runIdleWork(): unknown[] {
  const failed: unknown[] = [];
  if (!enabled) return failed;
  for (const w of works) {
    try {
      w.run();
    } catch (e) {
      failed.push(e);
    }
  }
  return failed;
}

export function disposeIdleWork(): void {
  for (const w of works) {
    try {
      w.dispose();
    } catch {
      /* ending anyway */
    }
  }
}
