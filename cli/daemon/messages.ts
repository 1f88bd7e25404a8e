// What the daemon's threads tell each other (worker_threads messages; plain data).
import type { RequestInfo, SessionResult } from "./session";

/** Main → worker: serve this connection; or end (an idle worker the pool retires). */
export type ConnMessage = { t: "conn"; fd: number } | { t: "retire" };

export type WorkerMessage =
  /** Warm and waiting for a connection. */
  | { t: "ready" }
  /** The connection's request was acked and runs now. */
  | { t: "accepted"; info: RequestInfo }
  /**
   * The connection is finished and closed; the worker's V8 heap in use, for `status`. `settling`:
   * it runs its idle work now and says "settled" after.
   */
  | { t: "done"; result: SessionResult; heapUsed: number; settling?: boolean }
  /** The idle work after a "done" with `settling` is over. */
  | { t: "settled" }
  /** A line for the daemon's log. */
  | { t: "log"; line: string }
  /** The worker must not serve again (it is about to exit). */
  | { t: "fatal"; why: string };

/** What every request worker is started with (worker_threads' workerData). */
export interface WorkerData {
  tscniRole: "request-worker";
  slot: SharedArrayBuffer;
  digest: string;
  ownNetIno: number;
  ownMntIno: number;
  maxRequestBytes: number;
  readDeadlineMs: number;
  replyTimeoutMs: number;
}
