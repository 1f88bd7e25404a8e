// The daemon's unix-socket calls, behind one interface (as netlink's Transport is), so that the
// daemon's logic — read a request within a deadline and a size limit, check the peer, ack, reply —
// is tested against a fake without root or sockets. The real one is the addon's thin wrappers:
// Node's net module offers neither SO_PEERCRED nor descriptors passed with SCM_RIGHTS.
import type { Worker } from "node:worker_threads";
import { native, nativeAddonPath } from "./native";

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface Received {
  /** Bytes read: -1 when nothing came within the timeout, 0 at the end of the stream. */
  n: number;
  /** Descriptors that came with them (close-on-exec; the receiver closes them). */
  fds: number[];
}

export interface SocketOps {
  /** A listening socket bound at `path` (which must not exist). */
  listen(path: string, backlog: number): number;
  /** A connection, or -1 when none arrived within `timeoutMs`. */
  accept(listenFd: number, timeoutMs: number): number;
  peerCred(fd: number): PeerCred;
  recv(fd: number, into: Buffer, timeoutMs: number): Received;
  /** Write all of `buf` within `timeoutMs`; false on timeout or a peer that went away. */
  sendAll(fd: number, buf: Buffer, timeoutMs: number): boolean;
  /** Write what fits without blocking; -1 when nothing could be written. */
  sendNoWait(fd: number, buf: Buffer): number;
  /** The peer has closed or shut down its side. */
  peerGone(fd: number): boolean;
  close(fd: number): void;
}

export const unixSockets: SocketOps = {
  listen: (p, backlog) => native().unixListen(p, backlog),
  accept: (fd, timeoutMs) => native().unixAccept(fd, timeoutMs),
  peerCred: (fd) => {
    const [pid, uid, gid] = native().peerCred(fd);
    return { pid, uid, gid };
  },
  recv: (fd, into, timeoutMs) => {
    const [n, ...fds] = native().recvWithFds(fd, into, timeoutMs);
    return { n: n ?? -1, fds };
  },
  sendAll: (fd, buf, timeoutMs) => native().sendAll(fd, buf, timeoutMs),
  sendNoWait: (fd, buf) => native().sendNoWait(fd, buf),
  peerGone: (fd) => native().peerGone(fd),
  close: (fd) => native().close(fd),
};

// The daemon's acceptor thread: waits in accept() on the listening socket and passes each
// connection's descriptor to the main thread (descriptors are per process: any thread may use the
// number). A few lines of its own rather than the bundle, loading the same addon file directly.
const ACCEPTOR = `
const { parentPort, workerData: d } = require("node:worker_threads");
const addon = { exports: {} };
process.dlopen(addon, d.addon);
const stop = new Int32Array(d.stop);
while (Atomics.load(stop, 0) === 0) {
  let fd;
  try {
    fd = addon.exports.unixAccept(d.fd, 250);
  } catch (e) {
    if (Atomics.load(stop, 0) === 0) parentPort.postMessage({ error: e.message });
    break;
  }
  if (fd >= 0) parentPort.postMessage({ fd });
}
`;

export interface Acceptor {
  worker: Worker;
  /** Stop accepting: the thread ends within a quarter of a second. */
  stop(): void;
}

export function startAcceptor(listenFd: number, onConnection: (fd: number) => void, onError: (msg: string) => void): Acceptor {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const { Worker } = process.getBuiltinModule("node:worker_threads");
  const worker = new Worker(ACCEPTOR, { eval: true, workerData: { fd: listenFd, addon: nativeAddonPath(), stop: stop.buffer } });
  worker.on("message", (m: { fd?: number; error?: string }) => (m.fd !== undefined ? onConnection(m.fd) : onError(m.error ?? "")));
  worker.on("error", (e) => onError(e.message));
  return { worker, stop: () => Atomics.store(stop, 0, 1) };
}
