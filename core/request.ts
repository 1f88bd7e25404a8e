// The call in progress on this thread: the environment the runtime gave it and how long it may
// wait. A plugin process runs one call; a daemon worker thread runs one call at a time; so "the
// current call" is well defined per thread, and the layers below the dispatcher (a lock wait in
// kernel/flock.ts, a tool in kernel/tools.ts) ask here instead of reading the process's own
// environment — which, in the daemon, belongs to whoever started the daemon, not to the call.
//
// Every wait on the CNI path is bounded by the call's deadline and ends early when the caller has
// gone (a runtime that timed out killed its shim): `checkpoint()` turns either into a code-11 error
// ("try again later") that unwinds the call like any other failure, so an ADD undoes itself.
import { CniError, Code } from "./errors";

export type Env = Readonly<Record<string, string | undefined>>;

export interface RequestScope {
  env: Env;
  /** Date.now() after which every wait gives up. */
  deadline: number;
  /** True once the caller is gone: waiting on would serve nobody. */
  cancelled: () => boolean;
}

/**
 * A call's whole budget unless TSCNI_REQUEST_TIMEOUT_MS (in the call's environment) says otherwise:
 * kubelet's default runtime-request timeout, after which no runtime is still waiting for the answer.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** The timeout a call's environment asks for (a positive integer of milliseconds), else the default. */
export function requestTimeoutMs(env: Env): number {
  const v = env.TSCNI_REQUEST_TIMEOUT_MS;
  const n = v && /^\d{1,9}$/.test(v) ? Number(v) : 0;
  return n > 0 ? n : DEFAULT_REQUEST_TIMEOUT_MS;
}

const never = () => false;
let current: RequestScope | undefined;

/** The scope of a call that did not come through the dispatcher (tools, tests): no environment. */
const detached = (): RequestScope => ({ env: {}, deadline: Date.now() + DEFAULT_REQUEST_TIMEOUT_MS, cancelled: never });

export const currentRequest = (): RequestScope => current ?? detached();

/** A scope for a call with `env`, its deadline from now (or as the runner gives it). */
export function scopeFor(env: Env, deadline?: number, cancelled: () => boolean = never): RequestScope {
  return { env, deadline: deadline ?? Date.now() + requestTimeoutMs(env), cancelled };
}

/**
 * Run `fn` as the call `scope`. A call nested in another one (an IPAM run in-process by bridge)
 * keeps the outer call's deadline and cancellation: it is part of the same runtime request.
 */
export async function inRequest<T>(scope: RequestScope, fn: () => Promise<T>): Promise<T> {
  const outer = current;
  current = outer ? { env: scope.env, deadline: Math.min(outer.deadline, scope.deadline), cancelled: outer.cancelled } : scope;
  try {
    return await fn();
  } finally {
    current = outer;
  }
}

/**
 * How long undoing a failed call may take beyond its deadline. A call that ran out of time (or
 * whose caller left) must still undo what it made — an ADD never leaves half its state — so its
 * undo steps get this budget of their own, and are not cancelled.
 */
export const CLEANUP_GRACE_MS = 5_000;

function cleanupScope(): RequestScope | undefined {
  if (!current) return undefined;
  return { env: current.env, deadline: Math.max(current.deadline, Date.now() + CLEANUP_GRACE_MS), cancelled: never };
}

/** Run the synchronous cleanup `fn` with the cleanup budget (see CLEANUP_GRACE_MS). */
export function inCleanupSync<T>(fn: () => T): T {
  const outer = current;
  current = cleanupScope();
  try {
    return fn();
  } finally {
    current = outer;
  }
}

/** inCleanupSync for asynchronous cleanup. */
export async function inCleanup<T>(fn: () => Promise<T>): Promise<T> {
  const outer = current;
  current = cleanupScope();
  try {
    return await fn();
  } finally {
    current = outer;
  }
}

/** Milliseconds left before the current call's deadline (0 when it has passed). */
export const remainingMs = (): number => Math.max(0, currentRequest().deadline - Date.now());

/** The current call's budget was spent while `waitingFor`, or its caller went away. */
export class DeadlineError extends CniError {
  constructor(
    readonly reason: "deadline" | "cancelled",
    waitingFor: string,
    details = "",
  ) {
    super(Code.TryAgainLater, reason === "deadline" ? `timed out ${waitingFor}` : `the caller went away ${waitingFor}`, details);
  }
}

/** Throw a DeadlineError if the call may wait no longer; `waitingFor` says what it was doing. */
export function checkpoint(waitingFor: string, details = ""): void {
  const s = currentRequest();
  if (s.cancelled()) throw new DeadlineError("cancelled", waitingFor, details);
  if (Date.now() >= s.deadline) throw new DeadlineError("deadline", waitingFor, details);
}

/** The environment a child process of the current call gets: the call's own, without NODE_*. */
export function childEnv(env: Env = currentRequest().env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith("NODE_")) out[k] = v;
  return out;
}
