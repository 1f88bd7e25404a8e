// ebpf-bandwidth's pure parts, no root: config (reference rules, key folding, burst clamping),
// the kernel layout plan, IFB minor allocation, the bfifo request and the stats table.
import { describe, expect, it } from "vitest";
import { CniError } from "../../core/errors";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, RTM, TCA } from "../../kernel/netlink/constants";
import { DEFAULT_PIN_ROOT, GSO_MAX, effectiveBurst, parseConfig, queueLimit } from "../../plugins/ebpf-bandwidth/config";
import { classMatches, setClass } from "../../plugins/ebpf-bandwidth/htb";
import { decodeMeta, encodeMeta, resolveAttach } from "../../plugins/ebpf-bandwidth/hooks";
import { resolveMode } from "../../plugins/ebpf-bandwidth/index";
import { FQ_PLAN, IFB_MAJOR, LEAF_STRIDE, SEGMENT_RATE_BITS, SMALL_PACKET, parentMinor, VETH_MAJOR, hashMinor, makePlan, pickMinor, segmentBytes, usesIfb } from "../../plugins/ebpf-bandwidth/plan";
import { decodeBody } from "../../kernel/netlink/attrs";
import { tcBody } from "../../kernel/netlink/tc";
import { tcHandle } from "../../kernel/netlink/tc-handle";
import { fmtBytes, render } from "../../plugins/ebpf-bandwidth/stats-cli";
import { ackingRtnl } from "../helpers/fake-kernel";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return { code: (e as CniError).code, msg: (e as CniError).message };
  }
  return undefined;
};

describe("config", () => {
  it("reads the reference keys at the top level, case-insensitively", () => {
    const c = parseConfig({ IngressRate: 8_000_000, ingressburst: 800_000, EGRESSRATE: 16_000_000, egressBurst: 1_600_000 }, {}, "net");
    expect(c.ingress).toMatchObject({ rateBits: 8_000_000, rate: 1_000_000, burstBits: 800_000 });
    expect(c.egress).toMatchObject({ rate: 2_000_000 });
    expect(c.pinRoot).toBe(DEFAULT_PIN_ROOT);
    expect(c.mode).toBe("auto");
  });

  it("falls back to runtimeConfig.bandwidth (any case) only when no top-level key is given", () => {
    const rc = { bandWidth: { ingressRate: 1_000_000, ingressBurst: 8_000 } };
    expect(parseConfig({}, rc, "n").ingress?.rate).toBe(125_000);
    expect(parseConfig({}, rc, "n").egress).toBeUndefined();
    const top = parseConfig({ egressRate: 2_000_000, egressBurst: 8_000 }, rc, "n");
    expect(top.ingress).toBeUndefined();
    expect(top.egress?.rate).toBe(250_000);
  });

  it.each([
    [{ ingressRate: 1000 }, /ingressBurst/],
    [{ egressBurst: 1000 }, /egressRate/],
    [{ ingressRate: 8000, ingressBurst: 8 * 0xffffffff }, /4GB/],
    [{ ingressRate: 4, ingressBurst: 100 }, /below 8/],
    [{ ingressRate: "1M", ingressBurst: 100 }, /integer/],
    [{ mode: "fast" }, /mode/],
    [{ pinRoot: "relative" }, /pinRoot/],
    [{ ifbDevice: "a-name-that-is-too-long" }, /ifbDevice/],
  ])("rejects %j with code 7", (raw, msg) => {
    const e = code(() => parseConfig(raw as Record<string, unknown>, {}, "net"));
    expect(e?.code).toBe(7);
    expect(e?.msg).toMatch(msg);
  });

  it("rejects network names that would escape the pin root", () => {
    expect(code(() => parseConfig({}, {}, "../x"))?.code).toBe(7);
  });

  it("clamps runtime default bursts to maxBurstMs of traffic and raises tiny ones to one GSO packet", () => {
    // containerd: 2^32-1 bits at 10 Mbit → 64 KiB (50 ms of 10 Mbit is less than one GSO packet).
    const c = parseConfig({ ingressRate: 10_000_000, ingressBurst: 2 ** 32 - 1 }, {}, "n");
    expect(c.ingress?.burst).toBe(GSO_MAX);
    // 1 Gbit: 50 ms = 6.25 MB.
    expect(effectiveBurst(125_000_000, 2 ** 29)).toBe(6_250_000);
    expect(effectiveBurst(125_000_000, 100_000)).toBe(100_000); // sane values pass unchanged
    expect(effectiveBurst(125_000, 200)).toBe(GSO_MAX); // the CONVENTIONS example (1600 bits)
    expect(effectiveBurst(125_000_000, 2 ** 29, 10)).toBe(1_250_000);
    expect(parseConfig({ maxBurstMs: 10, ingressRate: 8e9, ingressBurst: 2 ** 32 - 1 }, {}, "n").ingress?.burst).toBe(10_000_000);
  });

  it("HTB buckets hold at least 2 ms of the rate (HTB loses what a late dequeue cannot use): only above ≈ 262 Mbit/s", () => {
    const b = (o: Record<string, unknown>) => parseConfig({ egressBurst: 524_288, ...o }, {}, "n").egress?.burst;
    expect(b({ egressRate: 1e9 })).toBe(250_000);
    expect(b({ egressRate: 1e8 })).toBe(GSO_MAX);
    expect(b({ egressRate: 1e9, egressBurst: 8e6 })).toBe(1_000_000); // more asked: as asked
    expect(b({ egressRate: 1e9, maxBurstMs: 1 })).toBe(125_000); // maxBurstMs still caps
    expect(b({ egressRate: 1e9, mode: "edt" })).toBe(250_000); // edt shapes container egress with HTB too
  });

  it("police mode: buckets hold 0.5-1 s of the rate (TCP needs them without a queue), maxBurstMs still caps", () => {
    const police = (o: Record<string, unknown>) => parseConfig({ mode: "police", ...o }, {}, "n");
    // 64 KiB asked at 10 Mbit → raised to 0.5 s = 625 000 bytes; containerd's default → 1 s.
    expect(police({ ingressRate: 1e7, ingressBurst: 524_288 }).ingress?.burst).toBe(625_000);
    expect(police({ ingressRate: 1e7, ingressBurst: 2 ** 32 - 1 }).ingress?.burst).toBe(1_250_000);
    expect(police({ ingressRate: 1e7, ingressBurst: 8e6 }).ingress?.burst).toBe(1_000_000); // in range: as asked
    expect(police({ maxBurstMs: 100, ingressRate: 1e7, ingressBurst: 2 ** 32 - 1 }).ingress?.burst).toBe(125_000);
    expect(parseConfig({ ingressRate: 1e7, ingressBurst: 524_288 }, {}, "n").ingress?.burst).toBe(GSO_MAX); // htb: unchanged
    expect(effectiveBurst(1_250_000, 65_536, 1000, 500)).toBe(625_000);
  });

  it("sizes the leaf queue as rate × queueMs plus the burst: at least one GSO packet, at most maxQueuedBurstMs of the rate", () => {
    expect(queueLimit(1_250_000)).toBe(6_250 + GSO_MAX);
    expect(parseConfig({ queueMs: 2, egressRate: 1e9, egressBurst: 1e6 }, {}, "n").egress?.queue).toBe(250_000 + 125_000);
    expect(parseConfig({ queueMs: 2, egressRate: 1e9, egressBurst: 1600 }, {}, "n").egress?.queue).toBe(250_000 + GSO_MAX);
    // containerd's 2^32-1 bits at 10 Mbit: 1 s of the rate is queued (the bucket stays at 64 KiB).
    const cd = parseConfig({ ingressRate: 1e7, ingressBurst: 2 ** 32 - 1 }, {}, "n").ingress;
    expect(cd?.queue).toBe(6_250 + 1_250_000);
    expect(cd?.burst).toBe(GSO_MAX);
    expect(parseConfig({ maxQueuedBurstMs: 0, ingressRate: 1e7, ingressBurst: 2 ** 32 - 1 }, {}, "n").ingress?.queue).toBe(6_250 + GSO_MAX);
    expect(parseConfig({ maxQueuedBurstMs: 250, ingressRate: 1e7, ingressBurst: 2 ** 32 - 1 }, {}, "n").ingress?.queue).toBe(6_250 + 312_500);
    expect(queueLimit(1.25e8, 5, 2 ** 29, 250)).toBe(625_000 + 31_250_000);
  });
});

describe("plan", () => {
  const cfg0 = { ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 20_000_000, egressBurst: 1_000_000 };
  const cfg = parseConfig(cfg0, {}, "n");

  it("HTB: container ingress = veth egress class, container egress = IFB class via redirect", () => {
    const p = makePlan(cfg, "htb", { ifindex: 42, minor: 7 });
    expect(p.programs).toEqual({ ingress: "classify", egress: "classify" });
    // classify steers bulk traffic to the bulk leaf; packets ≤ 512 bytes to the small leaf (flags).
    // ECN marks (classify.c) above queueMs (5 ms) of each direction's rate: 6,250 and 12,500 bytes.
    expect(p.bpf.egress).toEqual({ classid: tcHandle(VETH_MAJOR, 2), flags: ((3 << 16) | SMALL_PACKET) >>> 0, rate: 1_250_000n, markAbove: 6_250n });
    expect(p.bpf.ingress).toEqual({ classid: tcHandle(IFB_MAJOR, 7 + LEAF_STRIDE), redirectIfindex: 42, flags: (((7 + 2 * LEAF_STRIDE) << 16) | SMALL_PACKET) >>> 0, rate: 2_500_000n, markAbove: 12_500n });
    expect(p.veth).toMatchObject({ minor: 1, rateBits: 10_000_000, burst: 65_536 }); // 125 kB clamped to max(50 ms, 64 KiB)
    expect(p.veth?.leaves).toEqual({ bulk: 2, small: 3, smallRateBits: 1_000_000, smallQueue: 32_768 });
    expect(p.ifb).toMatchObject({ rateBits: 20_000_000, minor: 7, ifindex: 42, name: "tscni-ifb0" });
    expect(p.ifb?.leaves).toMatchObject({ bulk: 7 + LEAF_STRIDE, small: 7 + 2 * LEAF_STRIDE, smallRateBits: 2_000_000 });
    expect(parentMinor(7 + 2 * LEAF_STRIDE)).toBe(7);
  });

  it("HTB with smallPacketPrio false: one leaf class per direction, flags 0 (the previous layout)", () => {
    const one = parseConfig({ ...cfg0, smallPacketPrio: false }, {}, "n");
    const p = makePlan(one, "htb", { ifindex: 42, minor: 7 });
    expect(p.bpf.egress).toEqual({ classid: tcHandle(VETH_MAJOR, 1), flags: 0, rate: 1_250_000n, markAbove: 6_250n });
    expect(p.bpf.ingress).toEqual({ classid: tcHandle(IFB_MAJOR, 7), redirectIfindex: 42, flags: 0, rate: 2_500_000n, markAbove: 12_500n });
    expect(p.veth?.leaves).toBeUndefined();
  });

  it("segments towards the container below one GSO packet per millisecond of the cap (TBF leaf), never above", () => {
    const at = (rate: number, mtu?: number) => makePlan(parseConfig({ ingressRate: rate, ingressBurst: 1_000_000 }, {}, "n"), "htb", undefined, "clsact", mtu).veth?.segment;
    expect(at(10_000_000)).toBe(2 * (1500 + 18)); // 1 ms is 1,250 bytes: two full frames is the floor
    expect(at(10_000_000, 9000)).toBe(2 * (9000 + 18));
    expect(at(100_000_000)).toBe(12_500); // 1 ms of the cap
    expect(at(524_280_000)).toBe(65_535);
    expect(at(524_288_000)).toBeUndefined(); // 1 ms is a whole GSO packet: a bfifo
    expect(at(1_000_000_000)).toBeUndefined();
    expect(segmentBytes({ rate: 1_250_000, burst: 1, queue: 1, rateBits: 10_000_000, burstBits: 8 }, 1500)).toBe(3036);
    // From the container its own GSO limit (gsoPlan) sizes packets: the IFB leaf stays a bfifo.
    expect(makePlan(cfg, "htb", { ifindex: 42, minor: 7 }).ifb?.segment).toBeUndefined();
  });

  it("HTB without an egress limit needs no IFB", () => {
    const only = parseConfig({ ingressRate: 10_000_000, ingressBurst: 1_000_000 }, {}, "n");
    const p = makePlan(only, "htb");
    expect(p.ifb).toBeUndefined();
    expect(p.bpf.ingress).toBeUndefined();
    expect(() => makePlan(cfg, "htb")).toThrow(/IFB/);
  });

  it("police: token buckets in the cfg maps, CE marks from half the bucket", () => {
    const p = makePlan(cfg, "police");
    expect(p.programs).toEqual({ ingress: "police", egress: "police" });
    expect(p.bpf.egress).toEqual({ rate: 1_250_000n, burst: 65_536n, markAbove: 32_768n });
    expect(p.bpf.ingress?.rate).toBe(2_500_000n);
    expect(p.veth).toBeUndefined();
  });

  it("EDT: edt + fq root towards the container, the IFB class from it; horizon = the HTB queue's time", () => {
    const p = makePlan(cfg, "edt", { ifindex: 42, minor: 7 });
    expect(p.programs).toEqual({ egress: "edt", ingress: "classify" });
    // 10 Mbit: queue = 6250 + 125 000 bytes (the configured burst) at 1.25 MB/s = 105 ms
    // edt lets small packets go first (cfg flags = the size limit).
    expect(p.bpf.egress).toEqual({ rate: 1_250_000n, horizonNs: 105_000_000n, flags: SMALL_PACKET });
    expect(p.vethFq).toEqual({ major: VETH_MAJOR, ...FQ_PLAN });
    expect(p.veth).toBeUndefined();
    expect(p.bpf.ingress).toEqual({ classid: tcHandle(IFB_MAJOR, 7 + LEAF_STRIDE), redirectIfindex: 42, flags: (((7 + 2 * LEAF_STRIDE) << 16) | SMALL_PACKET) >>> 0, rate: 2_500_000n, markAbove: 12_500n });
    expect(makePlan({ ...cfg, smallPacketPrio: false }, "edt", { ifindex: 42, minor: 7 }).bpf.egress).toEqual({ rate: 1_250_000n, horizonNs: 105_000_000n });
  });

  it("clsact fallback: the IFB redirect is the filter's mirred action (cfg mirred = 1), in every queueing mode", () => {
    for (const mode of ["htb", "edt"] as const) {
      expect(usesIfb(cfg, mode)).toBe(true);
      const tcx = makePlan(cfg, mode, { ifindex: 42, minor: 7 }, "tcx");
      const cls = makePlan(cfg, mode, { ifindex: 42, minor: 7 }, "clsact");
      expect(tcx.bpf.ingress?.mirred).toBeUndefined();
      expect(cls.bpf.ingress).toEqual({ ...tcx.bpf.ingress, mirred: 1 });
      expect(cls.bpf.egress).toEqual(tcx.bpf.egress); // towards the container nothing changes
      expect(cls.ifb).toEqual(tcx.ifb);
      expect(cls.programs).toEqual(tcx.programs);
    }
    expect(usesIfb(cfg, "police")).toBe(false);
    expect(makePlan(cfg, "police", undefined, "clsact").bpf.ingress?.mirred).toBeUndefined();
  });

  it("picks stable, free IFB parent minors in 1..LEAF_STRIDE (leaves above)", () => {
    const h = parentMinor(hashMinor("ctr-eth0"));
    expect(h).toBeGreaterThanOrEqual(1);
    expect(h).toBeLessThanOrEqual(LEAF_STRIDE);
    expect(pickMinor("ctr-eth0", new Set())).toBe(h);
    expect(pickMinor("ctr-eth0", new Set([h]))).toBe(h === LEAF_STRIDE ? 1 : h + 1);
    expect(3 * LEAF_STRIDE).toBeLessThanOrEqual(0xfffe);
    const full = new Set(Array.from({ length: LEAF_STRIDE }, (_, i) => i + 1));
    expect(() => pickMinor("x", full)).toThrow(/no free class/);
  });

  it("asked minor by minor (ADD probes the kernel), picks the same minor as from the set, asking from the hash on", () => {
    const h = parentMinor(hashMinor("ctr-eth0"));
    const asked: number[] = [];
    const taken = new Set([h, h === LEAF_STRIDE ? 1 : h + 1]);
    const m = pickMinor("ctr-eth0", (x) => (asked.push(x), taken.has(x)));
    expect(m).toBe(pickMinor("ctr-eth0", taken));
    expect(asked).toEqual([...taken, m]);
  });
});

describe("mode and attach resolution", () => {
  const c = (o: Record<string, unknown>) => parseConfig({ ingressRate: 1e7, ingressBurst: 1e6, ...o }, {}, "n");
  it("auto picks edt only where sch_fq exists; explicit edt without it is error 50", () => {
    expect(resolveMode(c({}), () => true)).toBe("htb"); // AUTO_PICKS_EDT is off until EDT passes under qemu
    expect(resolveMode(c({}), () => true, true)).toBe("edt");
    expect(resolveMode(c({}), () => false, true)).toBe("htb");
    expect(resolveMode(c({ mode: "htb" }), () => true)).toBe("htb");
    expect(resolveMode(c({ mode: "edt" }), () => true)).toBe("edt");
    expect(code(() => resolveMode(c({ mode: "edt" }), () => false))).toMatchObject({ code: 50, msg: expect.stringMatching(/sch_fq/) });
  });

  it("attach: auto = clsact whatever the kernel has; tcx on request, error 50 without TCX; bad values are error 7", () => {
    expect(c({}).attach).toBe("auto");
    expect(resolveAttach("auto", () => true)).toBe("clsact"); // TCX's attach and detach wait for RCU under RTNL
    expect(resolveAttach("auto", () => false)).toBe("clsact");
    expect(resolveAttach("tcx", () => true)).toBe("tcx");
    expect(resolveAttach("clsact", () => true)).toBe("clsact");
    expect(code(() => resolveAttach("tcx", () => false))?.code).toBe(50);
    expect(code(() => c({ attach: "xdp" }))?.code).toBe(7);
  });

  it("round-trips the attachment meta record", () => {
    const m = { mode: "clsact" as const, ifindex: 17, createdClsact: true, progIds: { egress: 99 } };
    expect(decodeMeta(encodeMeta(m))).toEqual(m);
    expect(decodeMeta(Buffer.alloc(20))).toBeUndefined();
  });
});

describe("htb helpers", () => {
  it("gives a class without leaves a bfifo leaf queue: RTM_NEWQDISC create|replace with a u32 limit, through the tc layer", () => {
    const { nl, sent } = ackingRtnl();
    setClass(nl, 5, { major: VETH_MAJOR, minor: 1, rateBits: 8_000_000, burst: 65_536, queue: 71_786 });
    expect(sent.map((m) => m.type)).toEqual([RTM.NEWTCLASS, RTM.NEWQDISC]);
    const fifo = sent[1]!;
    expect(fifo.flags).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
    // tcmsg {family 0, ifindex 5, handle 0, parent 7c1:1, info 0}, TCA_KIND "bfifo", TCA_OPTIONS = struct tc_fifo_qopt { u32 limit }.
    const tcmsg = Buffer.alloc(20);
    tcmsg.writeInt32LE(5, 4);
    tcmsg.writeUInt32LE(tcHandle(VETH_MAJOR, 1), 12);
    const kind = Buffer.from([10, 0, TCA.KIND, 0, ...Buffer.from("bfifo\0"), 0, 0]);
    const options = Buffer.from([8, 0, TCA.OPTIONS, 0, 0, 0, 0, 0]);
    options.writeUInt32LE(71_786, 4);
    expect(fifo.payload).toEqual(Buffer.concat([tcmsg, kind, options]));
  });

  it("gives a segmenting class a TBF leaf far above the cap: bucket = the plan's segment, limit = its queue", () => {
    const { nl, sent } = ackingRtnl();
    setClass(nl, 5, { major: VETH_MAJOR, minor: 1, rateBits: 8_000_000, burst: 65_536, queue: 71_786, segment: 3036 });
    expect(sent.map((m) => m.type)).toEqual([RTM.NEWTCLASS, RTM.NEWQDISC]);
    const { attrs, header } = decodeBody(tcBody, sent[1]!.payload);
    expect(sent[1]!.flags).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
    expect(header).toMatchObject({ ifindex: 5, parent: tcHandle(VETH_MAJOR, 1), handle: 0 });
    expect(attrs.kind).toBe("tbf");
    const o = attrs.options as { parms: { limit: number; rate: { rate: number } }; burst: number };
    expect(o).toMatchObject({ burst: 3036, parms: { limit: 71_786, rate: { rate: SEGMENT_RATE_BITS / 8 } } });
  });

  it("compares classes: exact rate, burst within psched rounding", () => {
    const want = { major: 1, minor: 1, rateBits: 10_000_000, burst: 125_000, queue: 1 };
    const htb = { rate: 10_000_000, ceil: 10_000_000, burst: 125_010, cburst: 125_010, prio: 0, quantum: 0, level: 0 };
    const c = { index: 1, kind: "htb", handle: 0x10001, parent: 0x10000, htb };
    expect(classMatches(c, want)).toBeUndefined();
    expect(classMatches({ ...c, htb: { ...htb, rate: 20_000_000 } }, want)).toMatch(/rate/);
    expect(classMatches({ ...c, htb: { ...htb, burst: 64_000 } }, want)).toMatch(/burst/);
    expect(classMatches(undefined, want)).toMatch(/missing/);
  });
});

describe("stats table", () => {
  it("formats bytes and aligns columns", () => {
    expect(fmtBytes(512n)).toBe("512 B");
    expect(fmtBytes(1536n)).toBe("1.5 KiB");
    const out = render([
      { network: "n", attachment: "c1-eth0", device: "veth1", direction: "to container", rate: "10 Mbit", bytes: 2048n, packets: 3n, drops: 1n, marks: 0n, backlog: 0 },
    ]);
    expect(out.split("\n")[0]).toMatch(/^network\s+attachment\s+host dev\s+direction\s+limit\s+bytes\s+packets\s+drops\s+ecn marks\s+queued$/);
    expect(out).toMatch(/c1-eth0\s+veth1\s+to container\s+10 Mbit\s+2\.0 KiB\s+3\s+1\s+0\s+0 B/);
  });
});
