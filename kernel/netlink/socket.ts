// A blocking NETLINK_ROUTE socket: one request at a time, replies collected until the ACK (or
// NLMSG_DONE for dumps). Synchronous on purpose: the CLI is short-lived, and a socket opened
// inside withNetns() keeps that namespace, so no thread ever needs to switch while we wait.
import * as fs from "node:fs";
import { Errno } from "../errno";
import { isSysError, native } from "../native";
import { withNetns } from "../netns";
import { NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST } from "./constants";
import { NetlinkError } from "./errors";
import { type RawMessage, encodeMessage, messageTypeName, parseAck, parseMessages } from "./message";

/** A request as built by the pure encoders: what to send and how to describe it in errors. */
export interface Request {
  type: number;
  /** Extra NLM_F_* flags (REQUEST and ACK are always added; DUMP for dump()). */
  flags?: number;
  payload: Buffer;
  /** For error messages: interface name, prefix, handle... */
  target?: string;
}

export interface SocketOptions {
  /** SO_RCVTIMEO; a kernel that stops answering becomes an ETIMEDOUT-like EAGAIN error. */
  timeoutMs?: number;
}

// Dumps of big tables arrive in datagrams of up to ~32 KiB (more with large rcvbuf); 1 MiB leaves
// room for any single datagram, since a truncated datagram cannot be read again.
const RECV_BUFFER = 1 << 20;
const DUMP_RETRIES = 5;

/** The datagram I/O under the socket: the native addon in production, a fake kernel in unit tests. */
export interface Transport {
  send(buf: Buffer): void;
  /**
   * send() from another thread (libuv's pool), for a request the kernel spends long inside
   * sendmsg on: the caller's thread works meanwhile. Errors carry a positive errno and the syscall.
   */
  sendInBackground?(buf: Buffer): Promise<void>;
  /** Receive one datagram into buf; returns its real length (may exceed buf.length if truncated). */
  recv(buf: Buffer): number;
  close(): void;
}

function fdTransport(fd: number): Transport {
  return {
    send: (buf) => void native().netlinkSend(fd, buf),
    sendInBackground: (buf) =>
      new Promise((resolve, reject) =>
        fs.write(fd, buf, (err) => {
          if (!err) return resolve();
          // Node's fs errors carry a negative errno.
          reject(Object.assign(new Error(`write: ${err.message}`), { errno: Math.abs(err.errno ?? Errno.EIO), code: err.code, syscall: "write" }));
        }),
      ),
    recv: (buf) => native().netlinkRecv(fd, buf),
    close: () => native().close(fd),
  };
}

export class NetlinkSocket {
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  private readonly rbuf = Buffer.allocUnsafe(RECV_BUFFER);
  private transport: Transport | undefined;
  /** A request is being written in the background (requestInBackground). */
  private busy = false;
  /** Extended-ack text the kernel attached to the last successful request (a warning), if any. */
  lastWarning: string | undefined;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** Open a socket in the namespace at `nsPath` (default: the current one). */
  static open(nsPath?: string, opts: SocketOptions = {}, protocol = NETLINK_ROUTE): NetlinkSocket {
    const timeout = opts.timeoutMs ?? 10_000;
    const fd = nsPath ? withNetns(nsPath, () => native().netlinkOpen(protocol, timeout)) : native().netlinkOpen(protocol, timeout);
    return new NetlinkSocket(fdTransport(fd));
  }

  get closed(): boolean {
    return !this.transport;
  }

  close(): void {
    this.transport?.close();
    this.transport = undefined;
  }

  /** Send a change (or a single GET) and return the replies that came before the ACK. */
  request(req: Request): RawMessage[] {
    return this.transact(req, (req.flags ?? 0) | NLM_F_ACK, false).messages;
  }

  /**
   * request(), with the datagram written from libuv's thread pool: for a change the kernel takes
   * long over (deleting a veth pair waits for RCU grace periods), so that this thread can do other
   * work meanwhile. The kernel answers inside that write, so the answer is read at once after it.
   * The socket must not be used again until the promise settles.
   */
  async requestInBackground(req: Request): Promise<RawMessage[]> {
    const t = this.usable();
    if (!t.sendInBackground) throw new TypeError("this netlink transport cannot send in the background");
    const seq = this.nextSeq();
    this.busy = true;
    try {
      await t.sendInBackground(encodeMessage(req.type, (req.flags ?? 0) | NLM_F_ACK | NLM_F_REQUEST, seq, req.payload));
    } catch (e) {
      sysError(e, messageTypeName(req.type), req);
    } finally {
      this.busy = false;
    }
    return this.receive(req, seq, false).messages;
  }

  /**
   * Send several changes in ONE datagram and return each one's outcome (undefined = done). The
   * kernel runs them in order inside that one sendmsg, so no signal (not even SIGKILL) can stop
   * the process between them: for steps that must not be separated by a crash (create a device,
   * then mark it as ours). A failed message does not stop the ones after it.
   */
  batch(reqs: Request[]): (NetlinkError | undefined)[] {
    const t = this.usable();
    this.lastWarning = undefined;
    const seqs = reqs.map(() => this.nextSeq());
    const wire = (e: unknown, req: Request): never => sysError(e, messageTypeName(req.type), req);
    try {
      t.send(Buffer.concat(reqs.map((r, i) => encodeMessage(r.type, (r.flags ?? 0) | NLM_F_ACK | NLM_F_REQUEST, seqs[i]!, r.payload))));
    } catch (e) {
      wire(e, reqs[0]!);
    }
    const out = new Map<number, NetlinkError | undefined>();
    while (out.size < reqs.length) {
      let n = 0;
      try {
        n = t.recv(this.rbuf);
      } catch (e) {
        wire(e, reqs[0]!);
      }
      if (n > this.rbuf.length) throw new NetlinkError({ errno: Errno.EMSGSIZE, op: messageTypeName(reqs[0]!.type), target: reqs[0]!.target, extack: `reply of ${n} bytes truncated` });
      for (const m of parseMessages(this.rbuf, n)) {
        const i = seqs.indexOf(m.seq);
        if (i < 0 || m.type !== NLMSG_ERROR) continue; // stale replies, or echoes nobody asked for
        const ack = parseAck(m);
        const req = reqs[i]!;
        out.set(i, ack.errno ? new NetlinkError({ errno: ack.errno, op: messageTypeName(req.type), target: req.target, extack: ack.extack, extackOffset: ack.offset }) : undefined);
      }
    }
    return reqs.map((_, i) => out.get(i));
  }

  /**
   * Run a dump; restarts when the kernel reports the table changed underneath (NLM_F_DUMP_INTR).
   * Still interrupted after the last retry: an EINTR NetlinkError, never a list that may miss
   * entries (a caller deciding what to delete from it would delete what it did not see).
   */
  dump(req: Request): RawMessage[] {
    for (let attempt = 0; ; attempt++) {
      const r = this.transact(req, (req.flags ?? 0) | NLM_F_DUMP, true);
      if (!r.interrupted) return r.messages;
      if (attempt >= DUMP_RETRIES) {
        throw new NetlinkError({ errno: Errno.EINTR, op: messageTypeName(req.type), target: req.target, extack: `dump interrupted by concurrent changes ${attempt + 1} times` });
      }
    }
  }

  private usable(): Transport {
    if (!this.transport) throw new Error("netlink socket is closed");
    if (this.busy) throw new Error("netlink socket is busy with a request in the background");
    return this.transport;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & 0x7fffffff;
    return this.seq;
  }

  private transact(req: Request, flags: number, isDump: boolean): { messages: RawMessage[]; interrupted: boolean } {
    const t = this.usable();
    const seq = this.nextSeq();
    try {
      t.send(encodeMessage(req.type, flags | NLM_F_REQUEST, seq, req.payload));
    } catch (e) {
      sysError(e, messageTypeName(req.type), req);
    }
    return this.receive(req, seq, isDump);
  }

  /** Collect the answer to request `seq`: replies until the ACK (a dump: until NLMSG_DONE). */
  private receive(req: Request, seq: number, isDump: boolean): { messages: RawMessage[]; interrupted: boolean } {
    const t = this.usable();
    const op = messageTypeName(req.type);
    this.lastWarning = undefined;
    const messages: RawMessage[] = [];
    let interrupted = false;
    for (;;) {
      let n = 0;
      try {
        n = t.recv(this.rbuf);
      } catch (e) {
        sysError(e, op, req);
      }
      if (n > this.rbuf.length) throw new NetlinkError({ errno: Errno.EMSGSIZE, op, target: req.target, extack: `reply of ${n} bytes truncated` });
      for (const m of parseMessages(this.rbuf, n)) {
        // Replies to an earlier request that timed out carry an older seq: skip them.
        if (m.seq !== seq) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
          const ack = parseAck(m);
          if (ack.errno !== 0) {
            throw new NetlinkError({ errno: ack.errno, op, target: req.target, extack: ack.extack, extackOffset: ack.offset });
          }
          this.lastWarning = ack.extack;
          // A GET without DUMP answers with its reply and then the ACK; a dump ends with DONE.
          if (m.type === NLMSG_DONE || !isDump) return { messages, interrupted };
          continue;
        }
        if (m.type === NLMSG_OVERRUN) throw new NetlinkError({ errno: Errno.ENOBUFS, op, target: req.target, extack: "netlink overrun" });
        messages.push({ ...m, payload: Buffer.from(m.payload) });
      }
    }
  }
}

/** A failed socket call (an addon error with errno and syscall) as a NetlinkError about `req`. */
function sysError(e: unknown, op: string, req: Request): never {
  if (isSysError(e)) throw new NetlinkError({ errno: e.errno, op, target: req.target, syscall: e.syscall });
  throw e;
}
