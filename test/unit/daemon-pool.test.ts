// The daemon's scheduling policy (cli/daemon/pool.ts), on a fake clock: which worker gets which
// connection, when the pool grows, when a caller is sent to run the call itself, when idle workers end.
import { describe, expect, it } from "vitest";
import { Pool, type PoolPolicy } from "../../cli/daemon/pool";

const policy: PoolPolicy = { minWorkers: 2, maxWorkers: 4, growAfterMs: 25, queueLimitMs: 2_000, retireAfterMs: 60_000 };

function harness(p: PoolPolicy = policy) {
  let now = 0;
  const log: string[] = [];
  const pool = new Pool<string>(p, {
    spawn: (id) => log.push(`spawn ${id}`),
    assign: (id, c) => log.push(`assign ${c} to ${id}`),
    refuse: (c) => log.push(`refuse ${c}`),
    retire: (id) => log.push(`retire ${id}`),
  }, () => now);
  return {
    pool,
    log,
    advance(ms: number) {
      now += ms;
      pool.tick();
    },
    /** Start the warm workers and report them ready. */
    warm() {
      pool.start();
      for (let seen = 0; seen < log.length; seen++) {
        pool.ready(Number(log[seen]!.split(" ")[1]));
        pool.tick();
      }
      log.length = 0;
    },
  };
}

describe("daemon worker pool", () => {
  it("starts the warm workers one at a time, each once the previous one is up", () => {
    const h = harness();
    h.pool.start();
    h.pool.tick();
    expect(h.log).toEqual(["spawn 1"]);
    h.pool.ready(1);
    h.pool.tick();
    expect(h.log).toEqual(["spawn 1", "spawn 2"]);
    h.pool.ready(2);
    h.pool.tick();
    expect(h.log).toEqual(["spawn 1", "spawn 2"]);
  });

  it("hands a connection to an idle worker at once", () => {
    const h = harness();
    h.warm();
    h.pool.submit("a");
    expect(h.log).toEqual(["assign a to 1"]);
    expect(h.pool.stats()).toEqual({ starting: 0, idle: 1, busy: 1, queued: 0 });
  });

  it("queues when every worker is busy and serves the queue as workers finish", () => {
    const h = harness();
    h.warm();
    h.pool.submit("a");
    h.pool.submit("b");
    h.pool.submit("c");
    expect(h.log).toEqual(["assign a to 1", "assign b to 2"]);
    h.pool.done(1);
    expect(h.log.at(-1)).toBe("assign c to 1");
  });

  it("gives a connection to a settled idle worker before one still running its idle work, and to that one rather than wait", () => {
    const h = harness();
    h.warm();
    h.pool.submit("a");
    h.pool.done(1, true); // worker 1 verifies the next ADD's programs now
    h.pool.submit("b");
    expect(h.log.at(-1)).toBe("assign b to 2");
    h.pool.submit("c"); // worker 2 busy, 1 still settling: 1 takes it (queued behind its idle work)
    expect(h.log.at(-1)).toBe("assign c to 1");
    h.pool.done(1, true);
    h.pool.settled(1);
    h.pool.done(2, true);
    h.pool.submit("d");
    expect(h.log.at(-1)).toBe("assign d to 1");
  });

  it("grows when a worker may be blocked (busy for growAfterMs with none idle), not before", () => {
    const h = harness();
    h.warm();
    h.pool.submit("blocked");
    h.pool.submit("b");
    h.advance(10);
    expect(h.log.filter((l) => l.startsWith("spawn"))).toEqual([]);
    h.advance(15);
    expect(h.log.filter((l) => l.startsWith("spawn"))).toEqual(["spawn 3"]);
  });

  it("grows when a connection has waited growAfterMs, and the new worker takes it", () => {
    const h = harness();
    h.warm();
    for (const c of ["a", "b", "c"]) h.pool.submit(c);
    h.advance(25);
    expect(h.log).toContain("spawn 3");
    h.pool.ready(3);
    expect(h.log.at(-1)).toBe("assign c to 3");
  });

  it("never exceeds maxWorkers, and refuses a connection that waited queueLimitMs (its shim runs it itself)", () => {
    const h = harness();
    h.warm();
    for (const c of ["a", "b", "c", "d", "e"]) h.pool.submit(c);
    for (let id = 3; id <= 4; id++) {
      h.advance(25);
      h.pool.ready(id);
    }
    h.advance(25);
    expect(h.log.filter((l) => l.startsWith("spawn"))).toEqual(["spawn 3", "spawn 4"]);
    expect(h.pool.stats()).toEqual({ starting: 0, idle: 0, busy: 4, queued: 1 });
    h.advance(2_000);
    expect(h.log.at(-1)).toBe("refuse e");
    expect(h.pool.stats().queued).toBe(0);
  });

  it("retires workers idle for retireAfterMs beyond the warm ones, one per tick", () => {
    const h = harness();
    h.warm();
    for (const c of ["a", "b", "c"]) h.pool.submit(c);
    h.advance(25);
    h.pool.ready(3);
    for (const id of [1, 2, 3]) h.pool.done(id);
    h.advance(59_999);
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual([]);
    h.advance(1);
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual(["retire 1"]);
    h.advance(1);
    expect(h.pool.stats()).toEqual({ starting: 0, idle: 2, busy: 0, queued: 0 });
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual(["retire 1"]);
  });

  it("never retires a worker during its idle work; its idle time counts from when it settled", () => {
    const h = harness();
    h.warm();
    for (const c of ["a", "b", "c"]) h.pool.submit(c);
    h.advance(25);
    h.pool.ready(3);
    for (const id of [1, 2, 3]) h.pool.done(id, true); // all three verify programs now
    h.advance(60_000);
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual([]);
    h.pool.settled(2);
    h.advance(59_999);
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual([]);
    h.advance(1);
    expect(h.log.filter((l) => l.startsWith("retire"))).toEqual(["retire 2"]);
  });

  it("replaces a worker that exited, back to the warm count", () => {
    const h = harness();
    h.warm();
    h.pool.submit("a");
    h.pool.exited(1);
    expect(h.log).toEqual(["assign a to 1", "spawn 3"]);
  });

  it("once closed, refuses what is queued and what comes, and starts nothing", () => {
    const h = harness();
    h.warm();
    for (const c of ["a", "b", "c"]) h.pool.submit(c);
    h.pool.close();
    h.pool.submit("d");
    h.pool.exited(1);
    expect(h.log).toEqual(["assign a to 1", "assign b to 2", "refuse c", "refuse d"]);
  });
});
