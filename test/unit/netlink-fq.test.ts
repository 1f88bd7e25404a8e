// The fq qdisc request (EDT mode's enforcer): golden TCA_OPTIONS bytes for the TCA_FQ_* attributes
// we set, omitted options left to the kernel, and a decode round trip.
import { describe, expect, it } from "vitest";
import { decodeBody } from "../../kernel/netlink/attrs";
import { NLM_F_CREATE, NLM_F_REPLACE, RTM, TCA } from "../../kernel/netlink/constants";
import { TCA_FQ, decodeQdisc, qdiscRequest, tcBody } from "../../kernel/netlink/tc";

const hex = (b: Buffer) => b.toString("hex");
/** The raw TCA_OPTIONS attribute (header included) of a tc request. */
function rawOptions(payload: Buffer): Buffer {
  let off = 20; // struct tcmsg
  while (off < payload.length) {
    const len = payload.readUInt16LE(off);
    const type = payload.readUInt16LE(off + 2) & 0x3fff;
    if (type === TCA.OPTIONS) return payload.subarray(off, off + len);
    off += (len + 3) & ~3;
  }
  throw new Error("no TCA_OPTIONS");
}
const u32attr = (type: number, v: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(8, 0);
  b.writeUInt16LE(type, 2);
  b.writeUInt32LE(v, 4);
  return hex(b);
};

describe("fq qdisc", () => {
  it("encodes plimit, flow_plimit, quantum, horizon and horizon_drop (golden)", () => {
    const r = qdiscRequest("replace", 7, { kind: "fq", handle: "7c1:", plimit: 10000, flowPlimit: 1000, quantum: 3028, horizonUs: 2_000_000, horizonDrop: true });
    expect(r.type).toBe(RTM.NEWQDISC);
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    // tcmsg: family 0, pad, ifindex 7, handle 7c1:0, parent root, info 0
    expect(hex(r.payload.subarray(0, 20))).toBe("00000000" + "07000000" + "0000c107" + "ffffffff" + "00000000");
    const opts = rawOptions(r.payload);
    const body =
      u32attr(TCA_FQ.PLIMIT, 10000) + u32attr(TCA_FQ.FLOW_PLIMIT, 1000) + u32attr(TCA_FQ.QUANTUM, 3028) + u32attr(TCA_FQ.HORIZON, 2_000_000) +
      "0500" + "0f00" + "01" + "000000"; // u8 horizon_drop = 1, padded to 4
    // nested TCA_OPTIONS (the NLA_F_NESTED bit is optional for tc options)
    expect(opts.readUInt16LE(0)).toBe(4 + body.length / 2);
    expect(opts.readUInt16LE(2) & 0x3fff).toBe(TCA.OPTIONS);
    expect(hex(opts.subarray(4))).toBe(body);
  });

  it("leaves unset options to the kernel and converts rates and flags", () => {
    const empty = rawOptions(qdiscRequest("add", 1, { kind: "fq" }).payload);
    expect(empty.length).toBe(4); // TCA_OPTIONS with no attribute inside
    const r = qdiscRequest("add", 1, { kind: "fq", flowMaxRate: 80_000_000, pacing: false, horizonDrop: false, ceThresholdUs: 500 });
    const { attrs } = decodeBody(tcBody, r.payload);
    expect(attrs.kind).toBe("fq");
    expect(attrs.options).toMatchObject({ flowMaxRate: 10_000_000, rateEnable: 0, horizonDrop: 0, ceThreshold: 500 });
  });

  it("decodes what it encodes", () => {
    const r = qdiscRequest("replace", 3, { kind: "fq", plimit: 500, flowPlimit: 50, quantum: 3000, horizonUs: 100_000, horizonDrop: false });
    const q = decodeQdisc(r.payload);
    expect(q).toMatchObject({ index: 3, kind: "fq", parent: 0xffffffff });
    expect(q.fq).toEqual({ plimit: 500, flowPlimit: 50, quantum: 3000, horizonUs: 100_000, horizonDrop: false });
  });
});
