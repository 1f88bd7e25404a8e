// An undo stack for ADD: each step that changes the system pushes how to reverse it. When a later
// step fails, the stack runs newest-first; every undo is attempted even if one fails, and the
// failures are reported with the original error instead of hiding it.
import { asCniError, CniError } from "../../core/errors";
import { debugLog } from "../../core/log";

/** Debug-level timing of a step: its duration and the time since the process started. */
export function traceStep(what: string, startedAt: number): void {
  const now = performance.now();
  debugLog(`bridge step "${what}": ${(now - startedAt).toFixed(1)} ms (at ${now.toFixed(1)} ms since process start)`);
}

interface Step {
  what: string;
  undo: () => void | Promise<void>;
}

export class UndoStack {
  private steps: Step[] = [];

  push(what: string, undo: () => void | Promise<void>): void {
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Forget everything: the operation succeeded. */
  commit(): void {
    this.steps = [];
  }

  /** Run every undo, newest first. Returns the descriptions of the ones that failed. */
  async unwind(): Promise<string[]> {
    const failed: string[] = [];
    for (const s of this.steps.splice(0).reverse()) {
      try {
        await s.undo();
      } catch (e) {
        failed.push(`${s.what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return failed;
  }

  /**
   * Run `fn`; on failure unwind and rethrow the original error as a CniError whose message says
   * which step failed (`context`), with leftovers from failed undos appended to the details.
   */
  async run<T>(fn: (stack: UndoStack) => Promise<T>): Promise<T> {
    try {
      const out = await fn(this);
      this.commit();
      return out;
    } catch (err) {
      const failed = await this.unwind();
      const e = asCniError(err);
      if (failed.length === 0) throw e;
      const extra = `cleanup after the failure also failed: ${failed.join("; ")}`;
      throw new CniError(e.code, e.msg, e.details ? `${e.details}; ${extra}` : extra);
    }
  }
}

/** Run `fn` and label any error with the step it belongs to ("create veth: ..."). */
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
