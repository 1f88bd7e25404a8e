// Netlink messages: nlmsghdr framing, splitting a datagram into messages, and the kernel's
// answers (NLMSG_ERROR acks with extended-ack TLVs, NLMSG_DONE ending a multipart dump).
import { decodeAttrs, defineAttrs } from "./attrs";
import {
  NLMSG_ERROR, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS,
  NLM_F_ACK_TLVS, NLM_F_CAPPED, RTM,
} from "./constants";
import { nlmsghdr } from "./layouts";
import { readScalar } from "./struct";

export const NLMSG_ALIGNTO = 4;
export const NLMSG_HDRLEN = 16;
export const nlmsgAlign = (n: number) => (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);

export interface RawMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Bytes after the header (a view into the receive buffer: copy before keeping). */
  payload: Buffer;
}

/** Frame a request: header + payload. */
export function encodeMessage(type: number, flags: number, seq: number, payload: Buffer, pid = 0): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const buf = Buffer.alloc(nlmsgAlign(len));
  nlmsghdr.write(buf, { len, type, flags, seq, pid });
  payload.copy(buf, NLMSG_HDRLEN);
  return buf;
}

/** Split one received datagram into messages. Throws on a malformed length (kernel bug or truncation). */
export function parseMessages(buf: Buffer, length = buf.length): RawMessage[] {
  const out: RawMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const h = nlmsghdr.decode(buf, off);
    if (h.len < NLMSG_HDRLEN || off + h.len > length) throw new Error(`netlink: bad message length ${h.len} at offset ${off} of ${length}`);
    out.push({ type: h.type, flags: h.flags, seq: h.seq, pid: h.pid, payload: buf.subarray(off + NLMSG_HDRLEN, off + h.len) });
    off += nlmsgAlign(h.len);
  }
  return out;
}

const extackSchema = defineAttrs("nlmsgerr_attrs", {
  msg: { id: NLMSGERR_ATTR_MSG, type: "string" },
  offset: { id: NLMSGERR_ATTR_OFFS, type: "u32" },
  missingType: { id: NLMSGERR_ATTR_MISS_TYPE, type: "u32" },
});

export interface AckInfo {
  /** 0 for success, else a positive errno. */
  errno: number;
  /** Kernel explanation (also sent with a successful ACK as a warning). */
  extack?: string;
  /** Offset of the offending attribute within the original request. */
  offset?: number;
  missingType?: number;
}

/**
 * Parse NLMSG_ERROR (struct nlmsgerr) or NLMSG_DONE payloads. NLMSG_ERROR echoes the request header
 * (and, unless NLM_F_CAPPED, the whole request); NLM_F_ACK_TLVS says extack attributes follow.
 * NLMSG_DONE carries only the int (a dump's final status) and optional TLVs.
 */
export function parseAck(msg: Pick<RawMessage, "type" | "flags" | "payload">): AckInfo {
  const p = msg.payload;
  if (p.length < 4) return { errno: 0 };
  const err = readScalar(p, 0, "s32");
  const info: AckInfo = { errno: err === 0 ? 0 : -err };
  if (!(msg.flags & NLM_F_ACK_TLVS)) return info;
  let tlvOff = 4;
  if (msg.type === NLMSG_ERROR) {
    if (p.length < 4 + NLMSG_HDRLEN) return info;
    const echoedLen = nlmsghdr.decode(p, 4).len;
    tlvOff += msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : nlmsgAlign(echoedLen);
  }
  const a = decodeAttrs(extackSchema, p, tlvOff);
  if (a.msg) info.extack = a.msg;
  if (a.offset !== undefined) info.offset = a.offset;
  if (a.missingType !== undefined) info.missingType = a.missingType;
  return info;
}

const typeNames = new Map<number, string>(Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]));
/** "RTM_NEWLINK" for 16; used in error messages. */
export const messageTypeName = (type: number) => typeNames.get(type) ?? `NLMSG_${type}`;
