// `tscni daemon`: the resident process the shim hands CNI calls to. Its main thread never blocks:
// it owns the listening socket's single-instance lock, hands each connection (accepted by the
// acceptor thread) to a request worker of its pool (pool.ts), keeps the table of requests in
// flight with their deadlines, answers operators on the control socket (control.ts), and decides
// when to exit (idle, namespace unused, another build's shim, a stop or a signal). Requests run
// on worker threads (worker.ts): a request blocked on a lock or a tool holds its own thread only.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import { CniError, Code } from "../../core/errors";
import { STDIN_LIMIT } from "../../core/limits";
import { printJson } from "../../core/skel";
import { inInitialMountNamespace } from "../../kernel/bpf/pin";
import { lockBounded, tryLock } from "../../kernel/flock";
import { openPrivateFile, RUN_DIR, runDir } from "../../kernel/rundir";
import { type Acceptor, type SocketOps, startAcceptor, unixSockets } from "../../kernel/unix-socket";
import { type Counts, type InFlight, type StatusInfo, controlPath, serveControl } from "./control";
import type { WorkerData, WorkerMessage } from "./messages";
import { DEFAULT_POLICY, Pool, type PoolPolicy } from "./pool";
import { Ack, DIGEST_LEN, encodeAck, encodeReply } from "./protocol";
import type { RequestInfo, SessionResult } from "./session";
import { IDLE, abandon, newSlot, stateOf } from "./slot";
import { startRequestWorker } from "./threads";

export interface DaemonOptions {
  socket: string;
  /** The build digest shims must carry (scripts/build.mjs bakes the same one into both). */
  digest: string;
  /** Exit after this long without a request; 0 = never. */
  idleExitMs: number;
  /** Started by a shim (not by systemd or a DaemonSet): exit when a shim of another build calls. */
  spawned: boolean;
  /** A lock on `<socket>.lock` inherited from the shim that spawned us. */
  lockFd?: number;
  /** Largest request accepted (argv0 + environment + stdin); larger ones go to the fallback. */
  maxRequestBytes?: number;
  /** A request must arrive in full within this time. */
  readDeadlineMs?: number;
  /** How long past its own deadline a request may run before the daemon answers for it. */
  graceMs?: number;
  /** How often to ask whether anything but us still uses our network namespace; 0 = never. */
  netnsCheckMs?: number;
  /** Whether our network namespace is still used by anything but us (cli/daemon/netns-usage.ts). */
  netnsUsed?: (netIno: number) => { used: boolean; why: string };
  policy?: Partial<PoolPolicy>;
  log?: (line: string) => void;
}

/** The largest stdin any path accepts, plus room for the environment (execve bounds it near 2 MiB). */
export const DEFAULT_MAX_REQUEST = STDIN_LIMIT + (2 << 20);
const DEFAULT_READ_DEADLINE_MS = 5_000;
const REPLY_TIMEOUT_MS = 5_000;
/** How long a retired worker has to close what it holds and end before it is terminated. */
const RETIRE_GRACE_MS = 2_000;
const DEFAULT_GRACE_MS = 5_000;
/** How long `stop` (and SIGTERM) wait for requests in flight before ending them. */
export const STOP_GRACE_MS = 10_000;

/** The socket of the daemon serving this network namespace (what the shim computes). */
export function defaultSocketPath(): string {
  return `/run/tscni/tscni-${fs.statSync("/proc/self/ns/net").ino}.sock`;
}

/** A file's inode, or undefined when it is gone. */
const inoOf = (p: string) => {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
};

/**
 * The socket's directory must be root's alone: a socket there cannot be replaced by anyone else.
 * /run/tscni (the default) is held to its own stricter rule (kernel/rundir.ts: 0700, root's).
 */
function privateDir(dir: string): void {
  if (dir === RUN_DIR) {
    runDir();
    return;
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} must be a directory owned by root and writable by root only`);
  }
}

/** The single-instance lock; the shim's, inherited, or taken here (asking a running one to stop). */
async function takeLock(o: DaemonOptions, stopOther: () => Promise<void>): Promise<number> {
  if (o.lockFd !== undefined) return o.lockFd;
  const fd = openPrivateFile(`${o.socket}.lock`);
  if (!tryLock(fd)) {
    // Another daemon (likely one a shim spawned) serves this socket: we are the configured one.
    await stopOther();
    lockBounded(fd, `${o.socket}.lock`);
  }
  return fd;
}

interface Running {
  worker: Worker;
  slot: Int32Array;
  /** The connection in hand (set when assigned). */
  conn?: number;
  request?: RequestInfo & { startedMs: number };
  backstop?: NodeJS.Timeout;
  /** Its V8 heap in use after its last request. */
  heapUsed?: number;
}

/** The error the daemon itself sends for a request it answers for (deadline far past, or a forced stop). */
function answerFor(sockets: SocketOps, conn: number, msg: string, details: string): void {
  const body = printJson(new CniError(Code.TryAgainLater, msg, details).toJSON("1.1.0"));
  sockets.sendNoWait(conn, encodeReply(1, body, ""));
}

export async function serve(o: DaemonOptions, stopOther: () => Promise<void>): Promise<number> {
  const log = o.log ?? (() => {});
  const sockets = unixSockets;
  if (o.digest.length !== DIGEST_LEN) throw new Error(`build digest must be ${DIGEST_LEN} characters`);
  privateDir(path.dirname(o.socket));
  // A daemon a shim spawned lives in the spawning caller's mount namespace. Outside the host's own
  // (e.g. under `ip netns exec`) its view of /sys/fs/bpf and dataDir would not be the host's:
  // leave those callers to the fallback, which sees what they see.
  if (o.spawned && !inInitialMountNamespace()) {
    log("spawned outside the initial mount namespace: not serving");
    return 0;
  }
  const lock = await takeLock(o, stopOther);
  fs.rmSync(o.socket, { force: true }); // left by a daemon that died; we hold the lock now
  const listenFd = sockets.listen(o.socket, 512);
  const socketIno = fs.statSync(o.socket).ino;
  const own = { net: inoOf("/proc/self/ns/net")!, mnt: inoOf("/proc/self/ns/mnt")! };
  const started = Date.now();
  const graceMs = o.graceMs ?? DEFAULT_GRACE_MS;
  const counts: Counts = { served: 0, failed: 0, timedOut: 0, cancelled: 0, refused: 0, abandoned: 0 };
  const workers = new Map<number, Running>();
  let lastRequest = Date.now();
  let stopping: { exitCode: number; onStopped: ((s: { pid: number; abandoned: number }) => void)[] } | undefined;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((r) => (exit = r));

  const workerData = (slot: Int32Array): WorkerData => ({
    tscniRole: "request-worker", slot: slot.buffer as SharedArrayBuffer, digest: o.digest, ownNetIno: own.net, ownMntIno: own.mnt,
    maxRequestBytes: o.maxRequestBytes ?? DEFAULT_MAX_REQUEST, readDeadlineMs: o.readDeadlineMs ?? DEFAULT_READ_DEADLINE_MS, replyTimeoutMs: REPLY_TIMEOUT_MS,
  });

  const refuse = (conn: number) => {
    counts.refused++;
    sockets.sendNoWait(conn, encodeAck(Ack.Refused));
    sockets.close(conn);
  };

  /** Answer for a request its worker could not finish, and give the worker up. */
  const giveUp = (id: number, msg: string, details: string) => {
    const w = workers.get(id);
    if (!w || w.conn === undefined) return;
    if (stateOf(w.slot) === IDLE) {
      // Not acked yet (still reading): the shim may run the call itself.
      refuse(w.conn);
      w.conn = undefined;
      forget(id);
      void w.worker.terminate();
      return;
    }
    if (!abandon(w.slot)) return;
    counts.abandoned++;
    answerFor(sockets, w.conn, msg, details);
    log(`abandoned worker ${id}: ${w.request?.plugin} ${w.request?.verb} ${w.request?.containerID}: ${msg}`);
    forget(id);
    void w.worker.terminate();
  };

  const forget = (id: number) => {
    const w = workers.get(id);
    if (!w) return;
    if (w.backstop) clearTimeout(w.backstop);
    workers.delete(id);
    pool.exited(id);
    maybeFinishStop();
  };

  const onMessage = (id: number, m: WorkerMessage) => {
    const w = workers.get(id);
    if (!w) return;
    switch (m.t) {
      case "ready":
        pool.ready(id);
        break;
      case "accepted": {
        lastRequest = Date.now();
        w.request = { ...m.info, startedMs: Date.now() };
        const wait = Math.max(0, m.info.deadline + graceMs - Date.now());
        w.backstop = setTimeout(() => giveUp(id, "the request did not finish in time", `it outlived its deadline by ${graceMs} ms; its worker was abandoned`), wait);
        break;
      }
      case "done":
        if (m.result === "timed-out" && w.request) log(`timed out: ${w.request.plugin} ${w.request.verb} ${w.request.containerID} (network ${w.request.network}) after ${Date.now() - w.request.startedMs} ms`);
        if (w.backstop) clearTimeout(w.backstop);
        w.backstop = undefined;
        w.request = undefined;
        w.conn = undefined;
        tally(m.result);
        w.heapUsed = m.heapUsed;
        if (m.result === "other-build" && o.spawned) {
          log("a shim of another build called: exiting so that the next call starts the right daemon");
          beginStop(0);
        }
        pool.done(id, m.settling === true);
        maybeFinishStop();
        break;
      case "settled":
        pool.settled(id);
        break;
      case "log":
        log(m.line);
        break;
      case "fatal":
        log(`worker ${id}: ${m.why}`);
        break;
    }
  };

  const tally = (r: SessionResult) => {
    if (r === "served") counts.served++;
    else if (r === "failed") (counts.served++, counts.failed++);
    else if (r === "timed-out") (counts.served++, counts.timedOut++);
    else if (r === "cancelled") counts.cancelled++;
    else if (r === "refused" || r === "other-build") counts.refused++;
  };

  const pool: Pool<number> = new Pool<number>({ ...DEFAULT_POLICY, ...o.policy }, {
    spawn: (id) => {
      const slot = newSlot();
      const worker = startRequestWorker(workerData(slot));
      workers.set(id, { worker, slot });
      worker.on("message", (m: WorkerMessage) => onMessage(id, m));
      worker.on("error", (e) => {
        log(`worker ${id} failed: ${e.stack ?? e.message}`);
        giveUp(id, "tscni daemon worker failed during the request", e.message);
      });
      worker.on("exit", () => {
        giveUp(id, "tscni daemon worker ended during the request", "");
        forget(id);
      });
    },
    assign: (id, conn) => {
      const w = workers.get(id)!;
      w.conn = conn;
      w.worker.postMessage({ t: "conn", fd: conn });
    },
    refuse,
    retire: (id) => {
      const w = workers.get(id);
      workers.delete(id);
      if (!w) return;
      // It closes what it holds between requests (core/idle.ts) and ends; ended for it if it cannot.
      w.worker.postMessage({ t: "retire" });
      setTimeout(() => void w.worker.terminate(), RETIRE_GRACE_MS).unref();
    },
  }, Date.now);

  const inFlight = (): InFlight[] =>
    [...workers.values()].flatMap((w) => (w.request ? [{ plugin: w.request.plugin, verb: w.request.verb, containerID: w.request.containerID, network: w.request.network, ageMs: Date.now() - w.request.startedMs, leftMs: w.request.deadline - Date.now() }] : []));

  const status = (): StatusInfo => {
    const mem = process.memoryUsage();
    return {
      pid: process.pid, digest: o.digest, socket: o.socket, startedMs: started, spawned: o.spawned, stopping: !!stopping,
      workers: pool.stats(), inFlight: inFlight(), counts: { ...counts }, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed,
      workersHeapUsedBytes: [...workers.values()].reduce((sum, w) => sum + (w.heapUsed ?? 0), 0),
    };
  };

  let acceptor: Acceptor | undefined;
  const removeSocket = () => {
    // Only our own socket: a daemon started after us may have replaced it.
    if (inoOf(o.socket) === socketIno) fs.rmSync(o.socket, { force: true });
  };

  /** Stop accepting at once; exit when nothing is in flight, or after the grace (ending what is left). */
  const beginStop = (exitCode: number, force = false, grace = STOP_GRACE_MS, onStopped?: (s: { pid: number; abandoned: number }) => void) => {
    if (!stopping) {
      stopping = { exitCode, onStopped: [] };
      removeSocket(); // new calls find no daemon and run as processes
      acceptor?.stop();
      pool.close();
      setTimeout(() => endAll("the daemon stopped before the request finished"), force ? 0 : grace).unref();
    }
    if (onStopped) stopping.onStopped.push(onStopped);
    if (force) endAll("the daemon was stopped (--force) during the request");
    maybeFinishStop();
  };

  const endAll = (why: string) => {
    for (const id of [...workers.keys()]) if (workers.get(id)!.request) giveUp(id, why, "retry, or DEL: the call may have run in part");
    maybeFinishStop();
  };

  const maybeFinishStop = () => {
    if (!stopping || [...workers.values()].some((w) => w.request || w.conn !== undefined)) return;
    for (const cb of stopping.onStopped) cb({ pid: process.pid, abandoned: counts.abandoned });
    exit(stopping.exitCode);
  };

  const control = await serveControl(controlPath(o.socket), {
    status,
    stop: (req, onStopped) => {
      log(`stop requested${req.force ? " (--force)" : ""}`);
      beginStop(0, req.force, req.graceMs ?? STOP_GRACE_MS, onStopped);
    },
  });

  acceptor = startAcceptor(listenFd, (conn) => (stopping ? refuse(conn) : pool.submit(conn)), (msg) => {
    log(`accept failed: ${msg}`);
    if (!stopping) beginStop(70);
  });
  pool.start();
  log(`tscni daemon ${process.pid} listening on ${o.socket}`);

  // systemd and kubelet stop us with SIGTERM: what is in flight gets the grace, then we exit.
  const onSignal = () => {
    log("signalled: stopping");
    beginStop(0);
  };
  process.on("SIGTERM", onSignal).on("SIGINT", onSignal);

  // Time: the pool's growth and refusals want a fine tick while anything is going on.
  const ticker = setInterval(() => pool.active && pool.tick(), 10);
  const slow = setInterval(() => {
    pool.tick();
    const busy = [...workers.values()].some((w) => w.request);
    if (!stopping && o.idleExitMs > 0 && !busy && Date.now() - lastRequest >= o.idleExitMs) {
      log("idle: exiting");
      beginStop(0);
    }
  }, 1000);
  const nsCheck = setInterval(() => {
    const u = !stopping && o.netnsUsed?.(own.net);
    if (u && !u.used) {
      log(`nothing but this daemon uses its network namespace (${u.why}): exiting`);
      beginStop(0);
    }
  }, o.netnsCheckMs || 2 ** 31 - 1);

  try {
    return await exited;
  } finally {
    for (const t of [ticker, slow, nsCheck]) clearInterval(t);
    process.off("SIGTERM", onSignal).off("SIGINT", onSignal);
    acceptor.stop();
    removeSocket();
    control.close();
    fs.rmSync(controlPath(o.socket), { force: true });
    // The lock file goes while we still hold it.
    fs.rmSync(`${o.socket}.lock`, { force: true });
    fs.closeSync(listenFd);
    fs.closeSync(lock);
    // Threads still in flight (abandoned, or stuck in the kernel) must not keep the process.
    for (const w of workers.values()) void w.worker.terminate();
  }
}
