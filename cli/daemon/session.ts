// One connection from a shim, served by a daemon worker thread from first byte to reply: the peer
// must be root; the request must arrive whole within the read deadline and the size limit; it
// must come from a shim of this build, in this daemon's network namespace, naming a plugin we
// serve. Only then is it acked — and a request runs only after its ack was delivered, so a shim
// that got no ack may run it itself (the fallback) without it ever running twice. Effects come in
// through SessionDeps (the sockets behind kernel/unix-socket.ts), so all of this is unit-tested.
import { requestTimeoutMs } from "../../core/request";
import type { SocketOps } from "../../kernel/unix-socket";
import { Ack, ProtocolError, type Request, encodeAck, encodeReply, parseRequest } from "./protocol";

export interface SessionLimits {
  /** Largest request accepted (argv0 + environment + stdin); larger ones go to the fallback. */
  maxRequestBytes: number;
  /** The whole request must arrive within this time after the connection was handed over. */
  readDeadlineMs: number;
  /** A reply (or an ack) that cannot be written within this time is dropped: the shim is stuck. */
  replyTimeoutMs: number;
}

/** What the daemon's operators see of a request in flight (`tscni daemon status`). */
export interface RequestInfo {
  plugin: string;
  verb: string;
  containerID: string;
  network: string;
  /** Date.now() after which the request's own waits give up. */
  deadline: number;
}

export interface Outcome {
  exit: number;
  stdout: string;
  stderr: string;
}

export type SessionResult =
  /** Ran and answered: exit 0, or a CNI error. */
  | "served"
  | "failed"
  /** Ran, and its deadline passed: the caller got a code-11 error. */
  | "timed-out"
  /** The caller went away (before the ack, or while the request ran). */
  | "cancelled"
  /** Never ran: not root, malformed, too large, too slow, another namespace, not a plugin. */
  | "refused"
  /** Never ran: a shim of another build (a daemon the shims spawned then makes way). */
  | "other-build"
  /** Ran past its deadline by so much that the daemon answered for it (claimReply was refused). */
  | "abandoned";

export interface SessionDeps {
  sockets: SocketOps;
  digest: string;
  /** The daemon's network namespace inode, and a caller's (undefined: gone or not visible). */
  ownNetIno: number;
  netInoOf(pid: number): number | undefined;
  servesName(name: string): boolean;
  limits: SessionLimits;
  now(): number;
  /** Told when the request is about to be acked and run. */
  onAccepted(info: RequestInfo): void;
  run(request: Request, nsFd: number | undefined, deadline: number, cancelled: () => boolean): Promise<Outcome>;
  /** Whether this session may still write the reply (false: the daemon already answered for it). */
  claimReply(): boolean;
  /** Set by the daemon to end the request (stop --force). */
  abandoned(): boolean;
}

/**
 * Read one request in full, within the deadline and the size limit; undefined if it did not come.
 * Descriptors that arrive with it are pushed onto `fds`, which the caller owns and closes.
 */
export function readRequest(conn: number, d: SessionDeps, fds: number[]): Request | undefined {
  const deadline = d.now() + d.limits.readDeadlineMs;
  let buf = Buffer.alloc(0);
  const chunk = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    const parsed = parseRequest(buf);
    if ("request" in parsed) return parsed.request;
    if (buf.length + parsed.need > d.limits.maxRequestBytes) return undefined;
    const left = deadline - d.now();
    if (left <= 0) return undefined;
    const got = d.sockets.recv(conn, chunk, left);
    fds.push(...got.fds);
    if (got.n <= 0) return undefined; // timeout, or the shim went away
    buf = Buffer.concat([buf, chunk.subarray(0, got.n)]);
  }
}

/** The network's name from a config, for operators only (best effort, bounded). */
export function networkName(stdin: Buffer): string {
  try {
    const v = (JSON.parse(stdin.toString("utf8")) as { name?: unknown }).name;
    return typeof v === "string" ? v.slice(0, 128) : "";
  } catch {
    return "";
  }
}

export function describeRequest(r: Request, now: number): RequestInfo {
  return {
    plugin: r.argv0,
    verb: r.env.CNI_COMMAND ?? "",
    containerID: (r.env.CNI_CONTAINERID ?? "").slice(0, 128),
    network: r.env.CNI_COMMAND === "VERSION" ? "" : networkName(r.stdin),
    deadline: now + requestTimeoutMs(r.env),
  };
}

/**
 * Serve the connection `conn`. Descriptors received with the request are pushed onto `fds`; the
 * caller closes them and `conn` afterwards (it alone knows whether the daemon took them over).
 */
export async function serveConnection(conn: number, d: SessionDeps, fds: number[]): Promise<SessionResult> {
  const ack = (status: number) => d.sockets.sendAll(conn, encodeAck(status), d.limits.replyTimeoutMs);
  const { pid, uid } = d.sockets.peerCred(conn);
  if (uid !== 0) return "refused"; // closed without an answer: only root may drive the plugins
  let request: Request | undefined;
  try {
    request = readRequest(conn, d, fds);
  } catch (e) {
    if (e instanceof ProtocolError) return "refused";
    throw e;
  }
  if (!request) {
    ack(Ack.Refused);
    return "refused";
  }
  if (request.digest !== d.digest) {
    ack(Ack.OtherBuild);
    return "other-build";
  }
  // The plugins act on the namespace they run in: the caller's must be ours. (pid 0: the caller
  // is in a pid namespace we cannot see into, e.g. a DaemonSet without hostPID; unverifiable.)
  if (pid <= 0 || d.netInoOf(pid) !== d.ownNetIno) {
    ack(Ack.OtherNamespace);
    return "refused";
  }
  if (!d.servesName(request.argv0)) {
    ack(Ack.Refused);
    return "refused";
  }
  // Marked running before the ack goes out (the daemon answers for a running request whose worker
  // dies), and run only once the ack was delivered: a shim that never got it falls back.
  const info = describeRequest(request, d.now());
  d.onAccepted(info);
  if (!ack(Ack.Accepted)) return "cancelled";
  const cancelled = () => d.abandoned() || d.sockets.peerGone(conn);
  const nsFd = request.env.CNI_NETNS && fds.length > 0 ? fds[0] : undefined;
  const out = await d.run(request, nsFd, info.deadline, cancelled);
  if (!d.claimReply()) return "abandoned";
  const goneBefore = cancelled(); // after the reply the shim leaves: only now does "gone" mean cancelled
  if (!d.sockets.sendAll(conn, encodeReply(out.exit, out.stdout, out.stderr), d.limits.replyTimeoutMs)) return "cancelled";
  if (out.exit === 0) return "served";
  return d.now() >= info.deadline ? "timed-out" : goneBefore ? "cancelled" : "failed";
}
