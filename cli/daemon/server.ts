// `tscni daemon`: the resident process the shim hands CNI calls to. One request at a time, on the
// main thread: setns() moves only the calling thread, and host-local's flock, netlink sockets and
// /proc/sys writes all assume nothing else runs in between. A request is read in full (size limit,
// deadline), acked, run through the same dispatcher as a plugin process (core/skel.ts) with the
// request's environment — never this process's — and answered; then the process checks it is
// still in its own network and mount namespaces, and exits if not.
import * as fs from "node:fs";
import * as path from "node:path";
import { inInitialMountNamespace } from "../../kernel/bpf/pin";
import { withNetnsAlias } from "../../kernel/netns";
import { native } from "../../kernel/native";
import { Ack, CONTROL, DIGEST_LEN, ProtocolError, type Request, encodeAck, encodeReply, parseRequest } from "./protocol";
import { runRequest, servesName } from "./run";

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
  log?: (line: string) => void;
}

export const DEFAULT_MAX_REQUEST = 6 << 20;

/**
 * Fault injection for the daemon's own tests: TSCNI_DAEMON_FAULT=before-read|before-reply in the
 * daemon's environment makes it SIGKILL itself at that point of its first request.
 */
const FAULT = process.env.TSCNI_DAEMON_FAULT;
const fault = (at: "before-read" | "before-reply") => {
  if (FAULT === at) process.kill(process.pid, "SIGKILL");
};
const LOCK_EX = 2;
const LOCK_NB = 4;

/** The socket of the daemon serving this network namespace (what the shim computes). */
export function defaultSocketPath(): string {
  return `/run/tscni/tscni-${fs.statSync("/proc/self/ns/net").ino}.sock`;
}

/** A file's inode, or undefined when it is gone (or, for /proc/<pid>, not visible to us). */
const inoOf = (p: string) => {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
};
const nsIno = (pid: number | "self", ns: "net" | "mnt") => fs.statSync(`/proc/${pid}/ns/${ns}`).ino;
const threadNsIno = (ns: "net" | "mnt") => fs.statSync(`/proc/self/task/${native().gettid()}/ns/${ns}`).ino;

/** The socket's directory must be root's alone: a socket there cannot be replaced by anyone else. */
function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} must be a directory owned by root and writable by root only`);
  }
}

/** The single-instance lock; the shim's, inherited, or taken here (asking a running one to stop). */
async function takeLock(o: DaemonOptions, stopOther: () => Promise<void>): Promise<number> {
  if (o.lockFd !== undefined) return o.lockFd;
  const fd = fs.openSync(`${o.socket}.lock`, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  try {
    native().flock(fd, LOCK_EX | LOCK_NB);
  } catch {
    // Another daemon (likely one a shim spawned) serves this socket: we are the configured one.
    await stopOther();
    native().flock(fd, LOCK_EX);
  }
  return fd;
}

export async function serve(o: DaemonOptions, stopOther: () => Promise<void>): Promise<number> {
  const log = o.log ?? (() => {});
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
  const listen = native().unixListen(o.socket, 128);
  const socketIno = fs.statSync(o.socket).ino;
  const own = { net: nsIno("self", "net"), mnt: nsIno("self", "mnt") };
  const started = Date.now();
  let served = 0;
  let last = Date.now();
  log(`tscni daemon ${process.pid} listening on ${o.socket}`);
  // systemd and kubelet stop us with SIGTERM: finish the request in hand, then clean up.
  let signalled = false;
  const onSignal = () => {
    signalled = true;
  };
  process.on("SIGTERM", onSignal).on("SIGINT", onSignal);
  try {
    for (;;) {
      // The accept below blocks the event loop; yielding once per second lets signals through.
      await new Promise((r) => setImmediate(r));
      if (signalled) {
        log("signalled: exiting");
        return 0;
      }
      const wait = o.idleExitMs > 0 ? Math.max(1, o.idleExitMs - (Date.now() - last)) : 1000;
      const conn = native().unixAccept(listen, Math.min(wait, 1000));
      if (conn < 0) {
        if (o.idleExitMs > 0 && Date.now() - last >= o.idleExitMs) {
          log("idle: exiting");
          return 0;
        }
        continue;
      }
      let outcome: Outcome;
      try {
        outcome = await handle(conn, o, { pid: process.pid, digest: o.digest, socket: o.socket, startedMs: started, served, spawned: o.spawned }, own.net);
      } catch (e) {
        log(`request failed: ${(e as Error).message}`);
        outcome = "served";
      } finally {
        fs.closeSync(conn);
      }
      last = Date.now();
      if (outcome === "served") served++;
      if (outcome === "stop") {
        log("stop requested");
        return 0;
      }
      if (outcome === "other-build" && o.spawned) {
        log("a shim of another build called: exiting so that the next call starts the right daemon");
        return 0;
      }
      // A request must never leave this process elsewhere: every later request would run there.
      if (threadNsIno("net") !== own.net || threadNsIno("mnt") !== own.mnt) {
        log("fatal: no longer in the daemon's own namespaces");
        return 70;
      }
    }
  } finally {
    process.off("SIGTERM", onSignal).off("SIGINT", onSignal);
    // Only our own socket: a daemon started after us (holding the lock we may have lost to a stop
    // request) may have replaced it. The lock file goes while we still hold it.
    if (inoOf(o.socket) === socketIno) fs.rmSync(o.socket, { force: true });
    fs.rmSync(`${o.socket}.lock`, { force: true });
    fs.closeSync(listen);
    fs.closeSync(lock);
  }
}

type Outcome = "served" | "refused" | "other-build" | "stop";

export interface StatusInfo {
  pid: number;
  digest: string;
  socket: string;
  startedMs: number;
  served: number;
  spawned: boolean;
  /** Memory, for operators watching a long-lived daemon (process.memoryUsage()). */
  rssBytes?: number;
  heapUsedBytes?: number;
}

const send = (fd: number, buf: Buffer) => {
  for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off);
};

/** Read one request in full, within the deadline and the size limit. */
function readRequest(conn: number, o: DaemonOptions): { request: Request; fds: number[] } | undefined {
  const max = o.maxRequestBytes ?? DEFAULT_MAX_REQUEST;
  const deadline = Date.now() + (o.readDeadlineMs ?? 10_000);
  const fds: number[] = [];
  let buf = Buffer.alloc(0);
  const chunk = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    const parsed = parseRequest(buf);
    if ("request" in parsed) return { request: parsed.request, fds };
    if (buf.length + parsed.need > max) break;
    const left = deadline - Date.now();
    if (left <= 0) break;
    const [n, ...got] = native().recvWithFds(conn, chunk, left);
    fds.push(...got);
    if (n === undefined || n <= 0) break; // timeout or the shim went away
    buf = Buffer.concat([buf, chunk.subarray(0, n)]);
  }
  for (const fd of fds) fs.closeSync(fd);
  return undefined;
}

async function handle(conn: number, o: DaemonOptions, info: StatusInfo, ownNetIno: number): Promise<Outcome> {
  const [pid, uid] = native().peerCred(conn);
  if (uid !== 0) return "refused"; // closed without an answer: only root may drive the plugins
  let got: ReturnType<typeof readRequest>;
  fault("before-read");
  try {
    got = readRequest(conn, o);
  } catch (e) {
    if (e instanceof ProtocolError) return "refused";
    throw e;
  }
  if (!got) {
    send(conn, encodeAck(Ack.Refused));
    return "refused";
  }
  const { request, fds } = got;
  try {
    if (request.argv0 === CONTROL.status || request.argv0 === CONTROL.stop) {
      send(conn, encodeAck(Ack.Accepted));
      const mem = process.memoryUsage();
      send(conn, encodeReply(0, JSON.stringify({ ...info, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed }), ""));
      return request.argv0 === CONTROL.stop ? "stop" : "refused";
    }
    if (request.digest !== o.digest) {
      send(conn, encodeAck(Ack.OtherBuild));
      return "other-build";
    }
    // The plugins act on the namespace they run in: the caller's must be ours. (pid 0: the caller
    // is in a pid namespace we cannot see into, e.g. a DaemonSet without hostPID; unverifiable.)
    if (pid <= 0 || inoOf(`/proc/${pid}/ns/net`) !== ownNetIno) {
      send(conn, encodeAck(Ack.OtherNamespace));
      return "refused";
    }
    if (!servesName(request.argv0)) {
      send(conn, encodeAck(Ack.Refused));
      return "refused";
    }
    send(conn, encodeAck(Ack.Accepted));
    const netns = request.env.CNI_NETNS;
    const run = () => runRequest(request);
    const r = netns && fds.length > 0 ? await withNetnsAlias(netns, fds[0]!, run) : await run();
    fault("before-reply");
    send(conn, encodeReply(r.exit, r.stdout, r.stderr));
    return "served";
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}
