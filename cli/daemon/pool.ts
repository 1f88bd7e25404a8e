// Which worker thread serves which connection, and when the pool grows, shrinks or sends a caller
// away. Pure: time and effects are passed in, so the policy is unit-tested without threads.
//
// Each request runs on a worker of its own, so a request blocked on a lock or a tool holds only
// its worker. The pool keeps `minWorkers` warm and starts another (one at a time: a start costs
// ≈ 40 ms of CPU) when a connection has waited `growAfterMs` for a worker, or when every worker is
// busy and one of them has been for that long — a worker that may be blocked. It never exceeds
// `maxWorkers`; a connection that still finds no worker within `queueLimitMs` is refused, and its
// shim runs the call as its own process (the fallback), as isolated as the Go plugins' calls.
// Workers idle for `retireAfterMs` beyond the warm ones end.

export interface PoolPolicy {
  minWorkers: number;
  maxWorkers: number;
  growAfterMs: number;
  queueLimitMs: number;
  retireAfterMs: number;
}

export const DEFAULT_POLICY: PoolPolicy = { minWorkers: 4, maxWorkers: 32, growAfterMs: 25, queueLimitMs: 2_000, retireAfterMs: 60_000 };

export interface PoolEffects<C> {
  /** Start a worker; it reports `ready(id)` when it can take a connection. */
  spawn(id: number): void;
  assign(id: number, conn: C): void;
  /** Tell the caller to run the call itself (and close the connection). */
  refuse(conn: C): void;
  retire(id: number): void;
}

type State = "starting" | "idle" | "busy";

export interface PoolStats {
  starting: number;
  idle: number;
  busy: number;
  queued: number;
}

export class Pool<C> {
  /** `settling`: idle, but running its idle work (core/idle.ts) until it says it has settled. */
  private readonly workers = new Map<number, { state: State; since: number; settling?: boolean }>();
  private readonly queue: { conn: C; at: number }[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly policy: PoolPolicy,
    private readonly fx: PoolEffects<C>,
    private readonly now: () => number,
  ) {}

  start(): void {
    this.tick();
  }

  /** A new connection. */
  submit(conn: C): void {
    if (this.closed) return this.fx.refuse(conn);
    this.queue.push({ conn, at: this.now() });
    this.drain();
    this.tick();
  }

  ready(id: number): void {
    this.setState(id, "idle");
    this.drain();
  }

  /**
   * The worker finished its connection. `settling`: it runs its idle work now (a daemon worker
   * verifies the next ADD's programs, ≈ 1–2 ms): a connection goes to another idle worker first.
   */
  done(id: number, settling = false): void {
    this.setState(id, "idle");
    const w = this.workers.get(id);
    if (w) w.settling = settling;
    this.drain();
  }

  /** The worker's idle work is over: its idle time (towards retirement) starts now. */
  settled(id: number): void {
    const w = this.workers.get(id);
    if (!w?.settling) return;
    w.settling = false;
    if (w.state === "idle") w.since = this.now();
    this.drain();
  }

  /** The worker is gone (ended, retired, crashed or abandoned). */
  exited(id: number): void {
    this.workers.delete(id);
    this.tick();
  }

  /** Stop taking connections: everything queued is refused, no worker is started any more. */
  close(): void {
    this.closed = true;
    for (const q of this.queue.splice(0)) this.fx.refuse(q.conn);
  }

  /** Refuse what waited too long, grow or shrink; call on every event and periodically. */
  tick(): void {
    const now = this.now();
    while (this.queue.length > 0 && now - this.queue[0]!.at >= this.policy.queueLimitMs) this.fx.refuse(this.queue.shift()!.conn);
    if (this.closed) return;
    if (this.wantsWorker(now)) {
      const id = this.nextId++;
      this.workers.set(id, { state: "starting", since: now });
      this.fx.spawn(id);
      return;
    }
    const s = this.stats();
    if (s.starting + s.idle + s.busy <= this.policy.minWorkers) return;
    for (const [id, w] of this.workers) {
      if (w.state === "idle" && !w.settling && now - w.since >= this.policy.retireAfterMs) {
        this.workers.delete(id);
        this.fx.retire(id);
        return; // one per tick
      }
    }
  }

  stats(): PoolStats {
    const s: PoolStats = { starting: 0, idle: 0, busy: 0, queued: this.queue.length };
    for (const w of this.workers.values()) s[w.state]++;
    return s;
  }

  /** Whether anything is waiting on time to pass (the caller then ticks often). */
  get active(): boolean {
    const s = this.stats();
    return s.queued > 0 || s.busy > 0 || s.starting > 0;
  }

  private wantsWorker(now: number): boolean {
    const s = this.stats();
    const total = s.starting + s.idle + s.busy;
    if (s.starting > 0 || total >= this.policy.maxWorkers) return false;
    if (total < this.policy.minWorkers) return true;
    const waited = this.queue.length > 0 && now - this.queue[0]!.at >= this.policy.growAfterMs;
    const mayBeBlocked = s.idle === 0 && [...this.workers.values()].some((w) => w.state === "busy" && now - w.since >= this.policy.growAfterMs);
    return waited || mayBeBlocked;
  }

  private setState(id: number, state: State): void {
    const w = this.workers.get(id);
    if (w) {
      w.state = state;
      w.since = this.now();
    }
  }

  /** Hand queued connections to idle workers: settled ones first, then settling ones (never wait while a worker is idle). */
  private drain(): void {
    for (const settling of [false, true]) {
      for (const [id, w] of this.workers) {
        if (this.queue.length === 0) return;
        if (w.state !== "idle" || !!w.settling !== settling) continue;
        w.state = "busy";
        w.since = this.now();
        w.settling = false;
        this.fx.assign(id, this.queue.shift()!.conn);
      }
    }
  }
}
