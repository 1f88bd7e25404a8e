// Rollback and teardown, one tool for every plugin. ADD pushes how to reverse each change onto an
// UndoStack; when a later step fails the stack runs newest-first, every undo is attempted even if
// one fails, and the failed ones are reported with the original error instead of hiding it. DEL
// and GC go through a Teardown: every part is attempted, the first failure is the error and the
// others are listed in its details. `step` names the step an error happened in.
import { asCniError, CniError } from "./errors";
import { debugLog } from "./log";
import { inCleanup, inCleanupSync } from "./request";

/** Debug-level timing of a step: its duration and the time since the process started. */
export function traceStep(what: string, startedAt: number): void {
  const now = performance.now();
  debugLog(`step "${what}": ${(now - startedAt).toFixed(1)} ms (at ${now.toFixed(1)} ms since process start)`);
}

interface Undo {
  what: string;
  undo: () => void | Promise<void>;
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `err` itself when every undo succeeded; else a CniError of it with the failed undos in its details. */
function withFailedUndos(err: unknown, failed: string[]): unknown {
  if (failed.length === 0) return err;
  const e = asCniError(err);
  const extra = `cleanup after the failure also failed: ${failed.join("; ")}`;
  return new CniError(e.code, e.msg, e.details ? `${e.details}; ${extra}` : extra);
}

export class UndoStack {
  private undos: Undo[] = [];

  /** Record how to reverse a change just made; `what` names it when the undo itself fails. */
  push(what: string, undo: () => void | Promise<void>): void {
    this.undos.push({ what, undo });
  }

  /** Forget everything: the operation succeeded. */
  commit(): void {
    this.undos = [];
  }

  /**
   * Run every undo, newest first. Returns the descriptions of the ones that failed. Undos get
   * their own time budget: a call that failed by running out of time still undoes itself.
   */
  async unwind(): Promise<string[]> {
    const failed: string[] = [];
    await inCleanup(async () => {
      for (const u of this.undos.splice(0).reverse()) {
        try {
          await u.undo();
        } catch (e) {
          failed.push(`${u.what}: ${describe(e)}`);
        }
      }
    });
    return failed;
  }

  /** unwind() for synchronous work (held flocks, setns): an undo must not return a promise here. */
  unwindSync(): string[] {
    const failed: string[] = [];
    inCleanupSync(() => {
      for (const u of this.undos.splice(0).reverse()) {
        try {
          if (u.undo() instanceof Promise) throw new TypeError("an asynchronous undo in a synchronous unwind");
        } catch (e) {
          failed.push(`${u.what}: ${describe(e)}`);
        }
      }
    });
    return failed;
  }

  /**
   * Run `fn`; on failure unwind and rethrow the original error (its message says which step failed
   * when `step` labelled it); if undos failed too, as a CniError with them appended to its details.
   */
  async run<T>(fn: (stack: UndoStack) => Promise<T>): Promise<T> {
    try {
      const out = await fn(this);
      this.commit();
      return out;
    } catch (err) {
      throw withFailedUndos(err, await this.unwind());
    }
  }

  /** run() for synchronous work. */
  runSync<T>(fn: (stack: UndoStack) => T): T {
    try {
      const out = fn(this);
      this.commit();
      return out;
    } catch (err) {
      throw withFailedUndos(err, this.unwindSync());
    }
  }
}

/** Run `fn` and label any error with the step it belongs to ("create veth pair: ..."). */
export function step<T>(what: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } catch (e) {
    throw asCniError(e, what);
  } finally {
    traceStep(what, t0);
  }
}

export async function stepAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } catch (e) {
    throw asCniError(e, what);
  } finally {
    traceStep(what, t0);
  }
}

/**
 * Removal of several independent parts (DEL, GC): each part is attempted whatever happened to the
 * others, and finish() reports every failure, the first as the error.
 */
export class Teardown {
  private readonly failures: CniError[] = [];

  /** Run one part; a failure is recorded (labelled with `what`, when given) and the next part runs. */
  attempt(what: string | undefined, fn: () => void): void {
    const t0 = performance.now();
    try {
      fn();
    } catch (e) {
      this.fail(e, what);
    } finally {
      if (what) traceStep(what, t0);
    }
  }

  async attemptAsync(what: string | undefined, fn: () => unknown): Promise<void> {
    const t0 = performance.now();
    try {
      await fn();
    } catch (e) {
      this.fail(e, what);
    } finally {
      if (what) traceStep(what, t0);
    }
  }

  /** Record a failure of a part run elsewhere; `first` reports it before those recorded so far. */
  fail(e: unknown, what?: string, first = false): void {
    const err = asCniError(e, what);
    if (first) this.failures.unshift(err);
    else this.failures.push(err);
  }

  /** No part has failed so far. */
  get ok(): boolean {
    return this.failures.length === 0;
  }

  /** Throw when a part failed: the first failure, with every other one in its details. */
  finish(): void {
    const [first, ...rest] = this.failures;
    if (!first) return;
    if (rest.length === 0) throw first;
    throw new CniError(first.code, first.msg, [first.details, ...rest.map((r) => r.message)].filter(Boolean).join("; "));
  }
}
