// Loading every program through our own loader, map syscalls, and BPF_PROG_TEST_RUN of the shaping
// programs on crafted packets. Needs root (bpf()); no namespace or device is touched.
import { afterEach, describe, expect, it } from "vitest";
import { MapType, TcAct, UpdateFlag } from "../../kernel/bpf/constants";
import { BpfError } from "../../kernel/bpf/errors";
import { BpfMap } from "../../kernel/bpf/handles";
import { type Collection, loadCollection } from "../../kernel/bpf/loader";
import { OBJECTS, objectSpec } from "../../kernel/bpf/objects";
import { DIR_KEY, encodeShapeConfig, sumShapeStats } from "../../kernel/bpf/shaping";
import { tcHandle } from "../../kernel/netlink/tc-handle";
import * as sys from "../../kernel/bpf/syscall";
import { isRoot } from "../helpers/netns";

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});
const keep = <T extends { close(): void }>(o: T) => (open.push(o), o);

const SKB_SIZE = 192; // sizeof(struct __sk_buff)
const SKB = { priority: 32, tstamp: 152, gso_segs: 164, gso_size: 176 };

/** Ethernet + IPv4 + TCP (20-byte header, no options) + payload. ecn: the 2 low TOS bits. */
function tcpPacket(payload: number, ecn = 0): Buffer {
  const b = Buffer.alloc(14 + 20 + 20 + payload);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b[15] = ecn;
  b.writeUInt16BE(20 + 20 + payload, 16);
  b[22] = 64;
  b[23] = 6;
  b.writeUInt32BE(0x0a000001, 26);
  b.writeUInt32BE(0x0a000002, 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  b.writeUInt16BE(~sum & 0xffff, 24);
  b[14 + 20 + 12] = 5 << 4; // TCP data offset: 20 bytes
  return b;
}

function load(name: (typeof OBJECTS)[number]): Collection {
  return keep(loadCollection(objectSpec(name)));
}

const stats = (c: Collection, dir: "ingress" | "egress") => sumShapeStats(c.map("stats").lookupPerCpu(DIR_KEY[dir]) ?? []);

describe.skipIf(!isRoot())("loading", () => {
  for (const name of OBJECTS) {
    it(`the verifier accepts ${name}`, () => {
      const c = load(name);
      for (const p of Object.values(c.programs)) {
        const info = p.info();
        expect(info.name).toBe(p.name.slice(0, 15));
        expect(info.mapIds.length).toBe(Object.keys(c.maps).length);
      }
    });
  }

  it("returns the verifier log when a program is refused", () => {
    // r0 is read before it is written: the verifier must refuse and say so.
    const insns = Buffer.from("bf010000000000009500000000000000", "hex"); // r1 = r0; exit
    try {
      sys.progLoad({ type: 3, insns, license: "GPL", name: "bad" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BpfError);
      expect((e as BpfError).code).toBe("EACCES");
      expect((e as BpfError).log).toMatch(/R0 !read_ok/);
    }
  });
});

describe.skipIf(!isRoot())("maps", () => {
  it("create, update, lookup, iterate, delete", () => {
    const m = keep(new BpfMap(sys.mapCreate({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: "tscni_test" }),
      { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, flags: 0, name: "tscni_test" }));
    const v = (n: number) => Buffer.from(BigInt(n).toString(16).padStart(16, "0"), "hex").reverse();
    m.update(1, v(100));
    m.update(2, v(200), UpdateFlag.NOEXIST);
    expect(() => m.update(2, v(1), UpdateFlag.NOEXIST)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(m.lookup(1)?.readBigUInt64LE(0)).toBe(100n);
    expect(m.lookup(3)).toBeUndefined();
    expect([...m.keys()].map((k) => k.readUInt32LE(0)).sort()).toEqual([1, 2]);
    expect(m.delete(1)).toBe(true);
    expect(m.delete(1)).toBe(false);
    const info = sys.mapInfo(m.fd);
    expect(info).toMatchObject({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: "tscni_test" });
  });

  it("per-CPU values have one slot per possible CPU", () => {
    const c = load("classify");
    const slots = c.map("stats").lookupPerCpu(0)!;
    expect(slots.length).toBeGreaterThanOrEqual(1);
    for (const s of slots) expect(s.length).toBe(32);
  });
});

describe.skipIf(!isRoot())("classify (PROG_TEST_RUN)", () => {
  it("counts bytes, sets skb->priority from the config and returns TCX_NEXT", () => {
    const c = load("classify");
    c.map("cfg").update(DIR_KEY.egress, encodeShapeConfig({ classid: tcHandle(1, 0x10) }));
    const pkt = tcpPacket(100);
    const r = c.program("classify_egress").testRun({ data: pkt, ctx: Buffer.alloc(SKB_SIZE), repeat: 3 });
    expect(r.retval).toBe(TcAct.UNSPEC);
    expect(r.ctxOut!.readUInt32LE(SKB.priority)).toBe(0x10010);
    expect(stats(c, "egress")).toEqual({ bytes: BigInt(3 * pkt.length), packets: 3n, drops: 0n, marks: 0n });
    expect(stats(c, "ingress").packets).toBe(0n);
  });

  it("leaves skb->priority alone without a class", () => {
    const c = load("classify");
    const ctx = Buffer.alloc(SKB_SIZE);
    ctx.writeUInt32LE(7, SKB.priority);
    const r = c.program("classify_ingress").testRun({ data: tcpPacket(10), ctx });
    expect(r.retval).toBe(TcAct.UNSPEC);
    expect(r.ctxOut!.readUInt32LE(SKB.priority)).toBe(7);
  });

  it("counts GSO packets as the segments they become on the wire", () => {
    const c = load("classify");
    // test_run packets must fit one page with the skb overhead: 4 segments of 800 bytes.
    const pkt = tcpPacket(4 * 800);
    const ctx = Buffer.alloc(SKB_SIZE);
    ctx.writeUInt32LE(4, SKB.gso_segs);
    ctx.writeUInt32LE(800, SKB.gso_size);
    c.program("classify_ingress").testRun({ data: pkt, ctx });
    // 3 extra segments, each repeating 14 + 20 + 20 bytes of headers.
    expect(stats(c, "ingress").bytes).toBe(BigInt(pkt.length + 3 * 54));
  });

  it("redirects when configured", () => {
    const c = load("classify");
    c.map("cfg").update(DIR_KEY.ingress, encodeShapeConfig({ redirectIfindex: 1 }));
    const r = c.program("classify_ingress").testRun({ data: tcpPacket(10) });
    expect(r.retval).toBe(TcAct.REDIRECT);
  });
});

describe.skipIf(!isRoot())("police (PROG_TEST_RUN)", () => {
  it("passes within the burst, drops beyond it", () => {
    const c = load("police");
    const pkt = tcpPacket(946); // 1000 bytes
    // 1000 B/s: refill is negligible during the test; a 2500-byte burst admits two packets.
    c.map("cfg").update(DIR_KEY.egress, encodeShapeConfig({ rate: 1000n, burst: 2500n }));
    const p = c.program("police_egress");
    const results = [1, 2, 3, 4].map(() => p.testRun({ data: pkt }).retval);
    expect(results).toEqual([TcAct.UNSPEC, TcAct.UNSPEC, TcAct.SHOT, TcAct.SHOT]);
    expect(stats(c, "egress")).toMatchObject({ packets: 4n, drops: 2n, marks: 0n });
  });

  it("CE-marks ECT packets below the drop line", () => {
    const c = load("police");
    c.map("cfg").update(DIR_KEY.ingress, encodeShapeConfig({ rate: 1000n, burst: 100_000n, markAbove: 1500n }));
    const p = c.program("police_ingress");
    const pkt = tcpPacket(946, 0b10); // ECT(0)
    const first = p.testRun({ data: pkt });
    expect(first.dataOut[15]! & 3).toBe(0b10); // backlog 1000 <= 1500: untouched
    const second = p.testRun({ data: pkt });
    expect(second.retval).toBe(TcAct.UNSPEC);
    expect(second.dataOut[15]! & 3).toBe(0b11); // CE
    expect(stats(c, "ingress")).toMatchObject({ packets: 2n, drops: 0n, marks: 1n });
  });

  it("counts but never limits with rate 0", () => {
    const c = load("police");
    const p = c.program("police_egress");
    for (let i = 0; i < 5; i++) expect(p.testRun({ data: tcpPacket(1400) }).retval).toBe(TcAct.UNSPEC);
    expect(stats(c, "egress")).toMatchObject({ packets: 5n, drops: 0n });
  });
});

describe.skipIf(!isRoot())("edt (PROG_TEST_RUN)", () => {
  it("stamps departure times from a per-direction virtual clock and drops beyond the horizon", () => {
    const c = load("edt");
    // 1 kB/s: a 1000-byte packet occupies 1 s; horizon 2.5 s. (With 1 ms per packet, as this test
    // once had, calls slower than 1 ms apart, e.g. under qemu's TCG, find the clock idle each time.)
    c.map("cfg").update(DIR_KEY.egress, encodeShapeConfig({ rate: 1_000n, horizonNs: 2_500_000_000n }));
    const p = c.program("edt_egress");
    const pkt = tcpPacket(946);
    const ts = [1, 2, 3].map(() => p.testRun({ data: pkt, ctx: Buffer.alloc(SKB_SIZE) }));
    expect(ts[0]!.retval).toBe(TcAct.UNSPEC);
    const [t0, t1, t2] = ts.map((r) => r.ctxOut!.readBigUInt64LE(SKB.tstamp));
    expect(t0).toBeGreaterThan(0n); // idle clock: leaves now, stamped "now" (the clock starts there)
    expect(t1 - t0).toBe(1_000_000_000n);
    expect(t2 - t1).toBe(1_000_000_000n);
    // Keep sending: the clock runs ahead until the horizon is hit.
    const rets = Array.from({ length: 5 }, () => p.testRun({ data: pkt }).retval);
    expect(rets).toContain(TcAct.SHOT);
    expect(stats(c, "egress").drops).toBeGreaterThan(0n);
  });

  it("sends small packets at once and charges them to the bulk behind them (cfg.flags = size limit)", () => {
    const c = load("edt");
    const cfg = encodeShapeConfig({ rate: 1_000n, horizonNs: 2_500_000_000n });
    cfg.writeUInt32LE(512, 40); // flags: packets up to 512 bytes are small
    c.map("cfg").update(DIR_KEY.egress, cfg);
    const p = c.program("edt_egress");
    const stamp = (bytes: number) => p.testRun({ data: tcpPacket(bytes - 54), ctx: Buffer.alloc(SKB_SIZE) }).ctxOut!.readBigUInt64LE(SKB.tstamp);
    stamp(1000); // idle clock: leaves now, the clock starts
    const b1 = stamp(1000); // 1 s after the first
    const s1 = stamp(100); // small: leaves now, 0.1 s charged
    const b2 = stamp(1000);
    expect(s1).toBeGreaterThan(0n); // stamped with "now" (a stale stamp is never passed on)
    expect(b1 - s1).toBeGreaterThan(900_000_000n); // not behind the bulk
    expect(b2 - b1).toBe(1_100_000_000n); // the bulk pays for it
  });

  it("ignores a wall-clock receive timestamp instead of jumping the clock to it", () => {
    const c = load("edt");
    c.map("cfg").update(DIR_KEY.egress, encodeShapeConfig({ rate: 1_000_000n, horizonNs: 2_500_000n }));
    const p = c.program("edt_egress");
    const pkt = tcpPacket(946);
    // A realtime stamp (what any packet carries once some socket enables timestamping).
    const ctx = Buffer.alloc(SKB_SIZE);
    ctx.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n, SKB.tstamp);
    const first = p.testRun({ data: pkt, ctx });
    expect(first.retval).toBe(TcAct.UNSPEC);
    // The next packets pace from "now", not from the year-2026 wall clock: none is dropped.
    const rets = [1, 2].map(() => p.testRun({ data: pkt, ctx: Buffer.alloc(SKB_SIZE) }).retval);
    expect(rets).toEqual([TcAct.UNSPEC, TcAct.UNSPEC]);
    expect(stats(c, "egress").drops).toBe(0n);
  });
});
