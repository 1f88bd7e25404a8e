// Pure encoding/decoding of the netlink layer: struct sizes, attribute TLVs, message framing,
// acks with extended-ack text. No sockets, no root.
import { describe, expect, it } from "vitest";
import { attr, decodeAttrs, defineAttrs, encodeAttrs, splitAttrs } from "../../kernel/netlink/attrs";
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI, NLA_F_NESTED } from "../../kernel/netlink/constants";
import { Errno, errnoText } from "../../kernel/errno";
import { NetlinkError, errnoName } from "../../kernel/netlink/errors";
import * as L from "../../kernel/netlink/layouts";
import { encodeMessage, parseAck, parseMessages } from "../../kernel/netlink/message";

const hex = (b: Buffer) => b.toString("hex");

describe("struct layouts", () => {
  // sizeof() on x86_64/arm64 Linux for each UAPI struct.
  it.each([
    [L.nlmsghdr, 16], [L.ifinfomsg, 16], [L.ifaddrmsg, 8], [L.rtmsg, 12], [L.ndmsg, 12], [L.tcmsg, 20],
    [L.tcRatespec, 12], [L.tcHtbOpt, 44], [L.tcHtbGlob, 20], [L.tcTbfQopt, 36], [L.gnetStatsBasic, 16],
    [L.gnetStatsQueue, 20], [L.bridgeVlanInfo, 4], [L.ifaCacheinfo, 16],
  ] as const)("%s has the kernel's size", (s, size) => {
    expect(s.size).toBe(size);
  });

  it("places nested structs and round-trips", () => {
    const v = { rate: { rate: 1250000, linklayer: 1 }, ceil: { rate: 2500000 }, buffer: 7, cbuffer: 8, quantum: 9, level: 0, prio: 3 };
    const buf = L.tcHtbOpt.encode(v);
    expect(buf.readUInt32LE(8)).toBe(1250000); // tc_ratespec.rate at +8
    expect(buf.readUInt8(1)).toBe(1); // linklayer
    expect(buf.readUInt32LE(12 + 8)).toBe(2500000); // ceil.rate
    expect(buf.readUInt32LE(40)).toBe(3); // prio is the last u32
    const back = L.tcHtbOpt.decode(buf);
    expect(back.rate.rate).toBe(1250000);
    expect(back.ceil.rate).toBe(2500000);
    expect(back.prio).toBe(3);
  });

  it("refuses to decode a short buffer", () => {
    expect(() => L.ifinfomsg.decode(Buffer.alloc(8))).toThrow(/need 16 bytes/);
  });
});

describe("attributes", () => {
  const inner = defineAttrs("inner", { a: { id: 1, type: "u16" }, b: { id: 2, type: "string" } });
  const outer = defineAttrs("outer", {
    name: { id: 3, type: "string" },
    n8: { id: 4, type: "u8" },
    n64: { id: 5, type: "u64" },
    flag: { id: 6, type: "flag" },
    nest: { id: 7, type: { nested: inner }, nestedFlag: true },
    many: { id: 8, type: "u32", multi: true },
    ip: { id: 9, type: "ip" },
    mac: { id: 10, type: "mac" },
    port: { id: 11, type: "be16" },
  });

  it("pads every attribute to 4 bytes but records the unpadded length", () => {
    const b = attr(3, Buffer.from("eth0\0"));
    expect(hex(b)).toBe("09000300" + "6574683000" + "000000");
    expect(hex(encodeAttrs(outer, { n8: 7 }))).toBe("05000400" + "07000000");
  });

  it("encodes in schema order, with NLA_F_NESTED where asked, and round-trips", () => {
    const v = { many: [1, 2], nest: { b: "x", a: 0x102 }, name: "br0", n64: 2 ** 40, flag: true, ip: "fd00::1", mac: "02:00:00:00:00:01", port: 4789 };
    const buf = encodeAttrs(outer, v);
    const raw = splitAttrs(buf);
    expect(raw.map((r) => r.type)).toEqual([3, 5, 6, 7, 8, 8, 9, 10, 11]);
    expect(raw[3].nested).toBe(true);
    expect(buf.readUInt16LE(raw[3].payload.byteOffset - buf.byteOffset - 2) & NLA_F_NESTED).toBe(NLA_F_NESTED);
    expect(raw[2].payload.length).toBe(0); // flag
    expect(hex(raw[8].payload)).toBe("12b5"); // be16 4789
    expect(decodeAttrs(outer, buf)).toEqual(v);
  });

  it("skips unknown attributes and stops at a truncated tail", () => {
    const buf = Buffer.concat([attr(99, Buffer.from([1, 2, 3, 4])), attr(4, Buffer.from([5])), Buffer.from([0x10, 0, 3, 0, 0x41])]);
    expect(decodeAttrs(outer, buf)).toEqual({ n8: 5 });
  });

  it("rejects unknown keys on encode (typos would silently drop settings)", () => {
    expect(() => encodeAttrs(outer, { nmae: "x" })).toThrow(/unknown attribute "nmae"/);
  });

  it("resolves nested schemas from a sibling (IFLA_INFO_DATA by IFLA_INFO_KIND)", () => {
    const byKind = defineAttrs("info", {
      kind: { id: 1, type: "string" },
      data: { id: 2, type: { dynamic: (s) => (s.kind === "inner" ? { nested: inner } : s.kind === "u32" ? "u32" : undefined) } },
    });
    const buf = encodeAttrs(byKind, { kind: "inner", data: { a: 5 } });
    expect(decodeAttrs(byKind, buf)).toEqual({ kind: "inner", data: { a: 5 } });
    // An unknown kind keeps the raw bytes.
    expect(decodeAttrs(byKind, encodeAttrs(byKind, { kind: "u32", data: 7 }))).toEqual({ kind: "u32", data: 7 });
    const other = Buffer.concat([attr(1, Buffer.from("zzz\0")), attr(2, Buffer.from([1, 2]))]);
    expect(decodeAttrs(byKind, other).data).toEqual(Buffer.from([1, 2]));
    expect(() => encodeAttrs(byKind, { kind: "zzz", data: 1 })).toThrow(/no layout/);
  });
});

describe("messages", () => {
  it("frames nlmsghdr (golden)", () => {
    const m = encodeMessage(19, 0x05, 1, Buffer.from("0000000005000000010000000100000".padEnd(32, "0"), "hex"));
    expect(hex(m.subarray(0, 16))).toBe("20000000" + "1300" + "0500" + "01000000" + "00000000");
  });

  it("splits a multipart datagram", () => {
    const dgram = Buffer.concat([
      encodeMessage(16, NLM_F_MULTI, 7, Buffer.from([1, 2, 3])), // 19 bytes → padded to 20
      encodeMessage(16, NLM_F_MULTI, 7, Buffer.alloc(4)),
      encodeMessage(NLMSG_DONE, NLM_F_MULTI, 7, Buffer.alloc(4)),
    ]);
    const msgs = parseMessages(dgram);
    expect(msgs.map((m) => [m.type, m.seq, m.payload.length])).toEqual([[16, 7, 3], [16, 7, 4], [NLMSG_DONE, 7, 4]]);
    const bad = Buffer.from(dgram);
    bad.writeUInt32LE(100, 20); // second message claims more than the datagram holds
    expect(() => parseMessages(bad)).toThrow(/bad message length 100/);
  });

  function errorPayload(errno: number, request: Buffer, capped: boolean, tlvs: Buffer): Buffer {
    const e = Buffer.alloc(4);
    e.writeInt32LE(-errno);
    return Buffer.concat([e, capped ? request.subarray(0, 16) : request, tlvs]);
  }
  const request = encodeMessage(16, 0x605, 3, Buffer.alloc(20));
  const tlvs = Buffer.concat([attr(1, Buffer.from("Exclusivity flag on\0")), attr(2, Buffer.from([36, 0, 0, 0]))]);

  it.each([true, false])("parses NLMSG_ERROR with extended ack (capped=%s)", (capped) => {
    const flags = NLM_F_ACK_TLVS | (capped ? NLM_F_CAPPED : 0);
    const ack = parseAck({ type: NLMSG_ERROR, flags, payload: errorPayload(17, request, capped, tlvs) });
    expect(ack).toEqual({ errno: 17, extack: "Exclusivity flag on", offset: 36 });
  });

  it("parses a plain ACK and a failed NLMSG_DONE", () => {
    expect(parseAck({ type: NLMSG_ERROR, flags: NLM_F_CAPPED, payload: errorPayload(0, request, true, Buffer.alloc(0)) })).toEqual({ errno: 0 });
    const done = Buffer.concat([Buffer.from([0xea, 0xff, 0xff, 0xff]), attr(1, Buffer.from("bad dump\0"))]);
    expect(parseAck({ type: NLMSG_DONE, flags: NLM_F_MULTI | NLM_F_ACK_TLVS, payload: done })).toEqual({ errno: 22, extack: "bad dump" });
  });
});

describe("NetlinkError", () => {
  it.each([
    [17, "EEXIST", "File exists"],
    [19, "ENODEV", "No such device"],
    [95, "EOPNOTSUPP", "Operation not supported"],
    [22, "EINVAL", "Invalid argument"],
    [2, "ENOENT", "No such file or directory"],
    [16, "EBUSY", "Device or resource busy"],
    [524, "ENOTSUPP", "Unknown error 524"],
    [67, "ENOLINK", "Link has been severed"],
    [11, "EAGAIN", "Resource temporarily unavailable"],
    [35, "EDEADLK", "Resource deadlock avoided"],
  ])("errno %i is %s", (errno, code, text) => {
    expect(errnoName(errno)).toBe(code);
    const e = new NetlinkError({ errno, op: "RTM_NEWLINK", target: "veth0", extack: "why" });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(code);
    expect(e.errno).toBe(errno);
    expect(e.op).toBe("RTM_NEWLINK");
    expect(e.message).toBe(`RTM_NEWLINK veth0: ${text} (why)`);
  });

  it("names an errno without a name by its number", () => {
    expect([errnoName(4095), errnoText(4095)]).toEqual(["E4095", "Unknown error 4095"]);
    expect([Errno.ENOLINK, Errno.EMSGSIZE, Errno.ENOTSUPP]).toEqual([67, 90, 524]);
  });

  it("omits the parentheses without extack", () => {
    expect(new NetlinkError({ errno: 19, op: "RTM_GETLINK" }).message).toBe("RTM_GETLINK: No such device");
  });
});
