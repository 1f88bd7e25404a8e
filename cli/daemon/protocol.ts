// The wire format between the shim (native/shim/tscni_shim.c) and `tscni daemon`. Pure: encoders
// and an incremental decoder, unit-tested without sockets (test/unit/daemon-protocol.test.ts).
// Integers are little endian, u32 except the reply's exit code (i32).
//
//   request   "TSCNIQ01" digest[32] | str argv0 | u32 envc, str "K=V" × envc | str stdin
//             (str = u32 length + bytes); CNI_NETNS arrives as a file descriptor alongside (SCM_RIGHTS)
//   ack       "TSCNIA01" u32 status        sent before anything runs; only ACCEPTED runs
//   reply     "TSCNIR01" i32 exit, u32 stdout length, u32 stderr length, stdout, stderr
//
// A shim that gets anything but ACCEPTED execs the standalone executable instead (fallback); one
// that got ACCEPTED never does, so a request runs at most once.
export const REQUEST_MAGIC = "TSCNIQ01";
export const ACK_MAGIC = "TSCNIA01";
export const REPLY_MAGIC = "TSCNIR01";
export const DIGEST_LEN = 32;

export const Ack = {
  Accepted: 0,
  /** The shim belongs to another build: its request is not ours to interpret. */
  OtherBuild: 1,
  /** Not a name this daemon serves, or over a limit. */
  Refused: 2,
  /** The caller is in another network namespace than the daemon. */
  OtherNamespace: 3,
} as const;

/** Names the daemon answers itself (from `tscni daemon status|stop`), never a plugin's. */
export const CONTROL = { status: "@status", stop: "@stop" } as const;

export interface Request {
  digest: string;
  argv0: string;
  env: Record<string, string>;
  stdin: Buffer;
}

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/**
 * Feed bytes as they arrive; `parse` says how many more are needed at least (so the caller can
 * enforce its size limit before reading them) or gives the request.
 */
export function parseRequest(buf: Buffer): { need: number } | { request: Request } {
  let off = 0;
  const need = (n: number) => (buf.length - off < n ? { need: n - (buf.length - off) } : undefined);
  const head = need(REQUEST_MAGIC.length + DIGEST_LEN);
  if (head) return head;
  if (buf.toString("latin1", 0, REQUEST_MAGIC.length) !== REQUEST_MAGIC) throw new ProtocolError("not a tscni request");
  const digest = buf.toString("latin1", REQUEST_MAGIC.length, REQUEST_MAGIC.length + DIGEST_LEN);
  off = REQUEST_MAGIC.length + DIGEST_LEN;
  const str = (): Buffer | { need: number } => {
    const h = need(4);
    if (h) return h;
    const len = buf.readUInt32LE(off);
    const b = need(4 + len);
    if (b) return b;
    const out = buf.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    return out;
  };
  const argv0 = str();
  if (!Buffer.isBuffer(argv0)) return argv0;
  const h = need(4);
  if (h) return h;
  const envc = buf.readUInt32LE(off);
  off += 4;
  const env: Record<string, string> = {};
  for (let i = 0; i < envc; i++) {
    const kv = str();
    if (!Buffer.isBuffer(kv)) return kv;
    const s = kv.toString("utf8");
    const eq = s.indexOf("=");
    // A name given twice: the first one counts, as getenv() and Node's process.env read it.
    if (eq > 0 && !Object.hasOwn(env, s.slice(0, eq))) env[s.slice(0, eq)] = s.slice(eq + 1);
  }
  const stdin = str();
  if (!Buffer.isBuffer(stdin)) return stdin;
  if (off !== buf.length) throw new ProtocolError(`${buf.length - off} bytes after the request`);
  return { request: { digest, argv0: argv0.toString("utf8"), env, stdin: Buffer.from(stdin) } };
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
const str = (b: Buffer | string) => {
  const buf = typeof b === "string" ? Buffer.from(b, "utf8") : b;
  return Buffer.concat([u32(buf.length), buf]);
};

/** What the shim sends (the daemon's tests and `tscni daemon status|stop` use it). */
export function encodeRequest(r: Request): Buffer {
  if (r.digest.length !== DIGEST_LEN) throw new ProtocolError(`digest must be ${DIGEST_LEN} characters`);
  const env = Object.entries(r.env).map(([k, v]) => str(`${k}=${v}`));
  return Buffer.concat([Buffer.from(REQUEST_MAGIC + r.digest, "latin1"), str(r.argv0), u32(env.length), ...env, str(r.stdin)]);
}

export const encodeAck = (status: number) => Buffer.concat([Buffer.from(ACK_MAGIC, "latin1"), u32(status)]);

export function encodeReply(exit: number, stdout: string, stderr: string): Buffer {
  const out = Buffer.from(stdout, "utf8");
  const err = Buffer.from(stderr, "utf8");
  const head = Buffer.alloc(20);
  head.write(REPLY_MAGIC, 0, "latin1");
  head.writeInt32LE(exit | 0, 8);
  head.writeUInt32LE(out.length, 12);
  head.writeUInt32LE(err.length, 16);
  return Buffer.concat([head, out, err]);
}

/** The shim's side of an answer: ack status, then (if accepted) the reply; undefined while incomplete. */
export function parseAnswer(buf: Buffer): { ack: number; reply?: { exit: number; stdout: string; stderr: string } } | undefined {
  if (buf.length < 12) return undefined;
  if (buf.toString("latin1", 0, 8) !== ACK_MAGIC) throw new ProtocolError("not a tscni ack");
  const ack = buf.readUInt32LE(8);
  if (ack !== Ack.Accepted) return { ack };
  const r = buf.subarray(12);
  if (r.length < 20) return undefined;
  if (r.toString("latin1", 0, 8) !== REPLY_MAGIC) throw new ProtocolError("not a tscni reply");
  const outLen = r.readUInt32LE(12);
  const errLen = r.readUInt32LE(16);
  if (r.length < 20 + outLen + errLen) return undefined;
  return { ack, reply: { exit: r.readInt32LE(8), stdout: r.toString("utf8", 20, 20 + outLen), stderr: r.toString("utf8", 20 + outLen, 20 + outLen + errLen) } };
}
