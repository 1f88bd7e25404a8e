// ebpf-bandwidth's limits and ownership rules (issue #11), no root:
//  - rates and bursts: the tick limit of HTB's buffers, the u64 edge of the police bucket, the u32
//    bfifo limit, and a sweep over the whole range the reference accepts, in every mode (EDT's
//    plan too, which this VM cannot run), through the same encoders ADD uses;
//  - whose qdisc / IFB is it: the rules htb.ts and ifb.ts act on, and their code-105 messages.
import { describe, expect, it } from "vitest";
import { CniError } from "../../core/errors";
import { encodeShapeConfig } from "../../kernel/bpf/shaping";
import { decodeBody } from "../../kernel/netlink/attrs";
import { RTM } from "../../kernel/netlink/constants";
import type { Link, Qdisc } from "../../kernel/netlink/index";
import { MAX_TICKS, maxXmitBytes, parsePsched, psched, xmitBytes, xmitTicks } from "../../kernel/netlink/psched";
import { tcBody } from "../../kernel/netlink/tc";
import { GSO_MAX, parseConfig, queueLimit } from "../../plugins/ebpf-bandwidth/config";
import { ackingRtnl } from "../helpers/fake-kernel";
import { classMatches, setClass } from "../../plugins/ebpf-bandwidth/htb";
import { GUEST_DEFCLS, IFB_MARK, foreignRootError, ifbOwner, notIfbError, rootOwner } from "../../plugins/ebpf-bandwidth/ownership";
import { IFB_MAJOR, POLICE_MAX_BUCKET, VETH_MAJOR, htbBurst, makePlan } from "../../plugins/ebpf-bandwidth/plan";
import { rootQdisc, tcHandle } from "../../kernel/netlink/tc-handle";

const PSCHED = parsePsched("000003e8 00000040 000f4240 3b9aca00\n"); // 64 ns ticks, every current kernel
const U64_MAX = 2n ** 64n - 1n;

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return { code: (e as CniError).code, msg: (e as CniError).msg };
  }
  return undefined;
};

describe("psched: the largest HTB/TBF burst a u32 tick count can hold", () => {
  it("is exact: one byte more would not fit, across rates from 1 B/s to 2^53 bit/s", () => {
    const rates = [1, 2, 7, 15, 16, 100, 238, 239, 1000, 12_345, 1e6, 15_625_000, 1.25e9, 1.25e10, 2 ** 32, 1.1e15];
    for (const r of rates) {
      const b = maxXmitBytes(r, PSCHED);
      if (b < Number.MAX_SAFE_INTEGER) {
        expect(xmitTicks(r, b, PSCHED)).toBeLessThanOrEqual(MAX_TICKS);
        expect(() => xmitTicks(r, b + 1, PSCHED)).toThrow(RangeError);
      }
    }
    expect(maxXmitBytes(1, PSCHED)).toBe(274); // 274.877906 s at 1 B/s
    expect(maxXmitBytes(238, PSCHED)).toBe(65_420); // below one GSO packet…
    expect(maxXmitBytes(239, PSCHED)).toBe(65_695); // …and above it from 239 B/s (1.9 kbit/s)
    expect(maxXmitBytes(1.1e15, PSCHED)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("clamps HTB bursts only where they would not fit", () => {
    expect(htbBurst(8, GSO_MAX, PSCHED)).toBe(274);
    expect(htbBurst(80, GSO_MAX, PSCHED)).toBe(2_748); // 10 B/s
    expect(htbBurst(1_904, GSO_MAX, PSCHED)).toBe(65_420); // 238 B/s
    expect(htbBurst(1_912, GSO_MAX, PSCHED)).toBe(GSO_MAX); // 239 B/s
    expect(htbBurst(10_000_000, 65_536, PSCHED)).toBe(65_536);
    expect(htbBurst(1e12, 0xfffffffe, PSCHED)).toBe(0xfffffffe);
  });
});

describe("police: the bucket's u64 nanoseconds", () => {
  it("never lets burst × 1e9 wrap around u64 (police.c divides it by the rate)", () => {
    expect(POLICE_MAX_BUCKET).toBe(18_446_744_073);
    expect(BigInt(POLICE_MAX_BUCKET) * 1_000_000_000n <= U64_MAX).toBe(true);
    expect(BigInt(POLICE_MAX_BUCKET + 1) * 1_000_000_000n > U64_MAX).toBe(true);
    // 295 147 905 184 bit/s: 0.5 s of it is 18 446 744 074 bytes, one past the edge (the bucket wrapped to 0 ns).
    const p = makePlan(parseConfig({ mode: "police", ingressRate: 295_147_905_184, ingressBurst: 8 }, {}, "n"), "police");
    expect(p.bpf.egress).toEqual({ rate: 36_893_488_148n, burst: 18_446_744_073n, markAbove: 9_223_372_036n });
    // Everyday rates keep their bucket: 10 Mbit/s, 0.5 s.
    expect(makePlan(parseConfig({ mode: "police", ingressRate: 1e7, ingressBurst: 8 }, {}, "n"), "police").bpf.egress?.burst).toBe(625_000n);
  });
});

describe("bfifo: a u32 limit in bytes", () => {
  it("caps the leaf queue at 4 GiB", () => {
    expect(queueLimit(1_250_000)).toBe(6_250 + GSO_MAX);
    expect(queueLimit(1.1e15)).toBe(0xffffffff);
    expect(queueLimit(1.1e12, 1000)).toBe(0xffffffff);
    expect(queueLimit(1e9, 1, 2 ** 32, 10_000)).toBe(0xffffffff); // 10 s of a queued burst at 8 Gbit/s
  });
});

describe("CHECK compares bursts with what the kernel gives back", () => {
  const want = (rateBits: number, burst: number) => ({ major: VETH_MAJOR, minor: 1, rateBits, burst, queue: GSO_MAX });
  const cls = (rateBits: number, burst: number) => ({ index: 1, kind: "htb", handle: tcHandle(VETH_MAJOR, 1), parent: tcHandle(VETH_MAJOR, 0), htb: { rate: rateBits, ceil: rateBits, burst, cburst: burst, prio: 0, quantum: 0, level: 0 } });
  it.each([
    [100e9, 62_400], // 64 KiB at 12.5 GB/s = 5.24 µs, truncated to 5 µs by tc's formula
    [1e12, 0], // below 1 µs: 0 ticks
    [8, 274], // clamped to the u32 tick limit
  ])("at %d bit/s a 64 KiB burst comes back as %d bytes", (rate, back) => {
    expect(xmitBytes(Math.floor(rate / 8), xmitTicks(Math.floor(rate / 8), htbBurst(rate, GSO_MAX, PSCHED), PSCHED), PSCHED)).toBe(back);
    expect(classMatches(cls(rate, back), want(rate, GSO_MAX), PSCHED)).toBeUndefined();
  });
  it("still notices a burst that differs", () => {
    expect(classMatches(cls(10_000_000, 32_768), want(10_000_000, GSO_MAX), PSCHED)).toBe("burst 32768 bytes, want 65536");
  });
});

describe("the whole range the reference accepts", () => {
  // bit/s: 8 up to 2^53 - 1, through every boundary above; bits: 8 up to just under 4 GB (burst / 8 < 2^32 - 1).
  const RATES = [8, 9, 15, 16, 127, 128, 1_000, 1_904, 1_912, 50_000, 64_000, 64_008, 1e6, 1e7, 1e9, 8 * 0xffffffff, 8 * 2 ** 32, 1e11, 1e12, 295_147_905_184, 1e14, 1e15, Number.MAX_SAFE_INTEGER];
  const BURSTS = [8, 1_600, 524_288, 2 ** 32 - 1, 8 * 0xffffffff - 1];
  const extras = [{}, { smallPacketPrio: false }, { maxBurstMs: 10_000, queueMs: 1_000, maxQueuedBurstMs: 10_000 }, { maxBurstMs: 1, queueMs: 1 }];

  it("every combination plans and encodes in every mode (htb classes + bfifos, police and edt cfg values)", () => {
    const p = psched();
    let combos = 0;
    for (const rate of RATES) {
      for (const burst of BURSTS) {
        for (const extra of extras) {
          for (const mode of ["htb", "police", "edt"] as const) {
            const raw = { mode, ...extra, ingressRate: rate, ingressBurst: burst, egressRate: rate, egressBurst: burst };
            const cfg = parseConfig(raw, {}, "n");
            const plan = makePlan(cfg, mode, { ifindex: 7, minor: 1 });
            for (const d of ["ingress", "egress"] as const) {
              const c = plan.bpf[d]!;
              expect(() => encodeShapeConfig(c)).not.toThrow();
              if (mode === "police") expect(c.burst! * 1_000_000_000n <= U64_MAX).toBe(true);
              if (c.horizonNs !== undefined) expect(c.horizonNs > 0n && c.horizonNs <= U64_MAX).toBe(true);
            }
            const { nl, sent } = ackingRtnl();
            for (const cp of [plan.veth, plan.ifb]) if (cp) setClass(nl, 7, cp);
            for (const m of sent) {
              const { attrs } = decodeBody(tcBody, m.payload);
              if (m.type === RTM.NEWTCLASS) {
                const o = (attrs.options as { parms: { buffer: number; cbuffer: number } }).parms;
                expect(o.buffer).toBeLessThanOrEqual(MAX_TICKS);
                expect(o.cbuffer).toBeLessThanOrEqual(MAX_TICKS);
              } else if (attrs.kind === "tbf") {
                // The segmenting leaf: its limit and bucket, never wrapped; the bucket passes two frames.
                const o = attrs.options as { parms: { limit: number }; burst: number };
                expect(o.parms.limit).toBeGreaterThanOrEqual(GSO_MAX / 2);
                expect(o.burst).toBeGreaterThanOrEqual(2 * 1518);
                expect(o.burst).toBeLessThan(GSO_MAX);
              } else {
                expect(m.payload.readUInt32LE(m.payload.length - 4)).toBeGreaterThanOrEqual(GSO_MAX / 2); // bfifo limit, never wrapped
              }
            }
            // CHECK would accept what ADD set (the class with the burst the kernel reports back).
            for (const cp of [plan.veth, plan.ifb]) {
              if (!cp) continue;
              const r = Math.floor(cp.rateBits / 8);
              const back = xmitBytes(r, xmitTicks(r, htbBurst(cp.rateBits, cp.burst, p), p), p);
              const got = { index: 7, kind: "htb", handle: tcHandle(cp.major, cp.minor), parent: 0, htb: { rate: r * 8, ceil: r * 8, burst: back, cburst: back, prio: 0, quantum: 0, level: 0 } };
              expect(classMatches(got, cp, p)).toBeUndefined();
            }
            combos++;
          }
        }
      }
    }
    expect(combos).toBe(RATES.length * BURSTS.length * extras.length * 3);
  });

  it.each([
    [{ ingressRate: 7, ingressBurst: 8 }, "invalid ingressRate"],
    [{ ingressRate: 1, ingressBurst: 8 }, "invalid ingressRate"],
    [{ egressRate: 7, egressBurst: 8 * 0xffffffff - 1 }, "invalid egressRate"],
    [{ ingressRate: 2 ** 53, ingressBurst: 8 }, 'invalid "ingressRate"'],
    [{ egressRate: 1e19, egressBurst: 8 }, 'invalid "egressRate"'],
    [{ ingressRate: 8, ingressBurst: 8 * 0xffffffff }, "invalid ingressBurst"],
    [{ egressRate: 1e12, egressBurst: 2 ** 40 }, "invalid egressBurst"],
    [{ runtimeConfig: { bandwidth: { ingressRate: 7, ingressBurst: 8 } } }, "invalid runtimeConfig.bandwidth.ingressRate"],
  ])("refuses %j with code 7 naming the field, in every mode", (raw, msg) => {
    for (const mode of ["htb", "police", "edt"]) {
      const { runtimeConfig, ...top } = raw as Record<string, unknown> & { runtimeConfig?: Record<string, unknown> };
      expect(code(() => parseConfig({ mode, ...top }, runtimeConfig ?? {}, "n"))).toEqual({ code: 7, msg });
    }
  });
});

describe("ownership: whose root qdisc, whose IFB", () => {
  const q = (kind: string, h: number, o: Partial<Qdisc> = {}): Qdisc => ({ index: 5, kind, handle: h, parent: 0xffffffff, ...o });
  const link = (o: Partial<Link>): Link => ({ index: 5, name: "ifb9", kind: "ifb", type: 1, mtu: 1500, flags: 0, up: true, lowerUp: true, promisc: false, operstate: "up", ...o });

  it("roots: ours by kind and handle, the kernel's default by handle 0:, anything else another tool's", () => {
    const kinds = ["htb", "fq"];
    expect(rootOwner(undefined, kinds, VETH_MAJOR)).toBe("default"); // a device that is down shows none
    for (const k of ["noqueue", "pfifo_fast", "mq", "fq_codel"]) expect(rootOwner(q(k, 0), kinds, VETH_MAJOR)).toBe("default");
    expect(rootOwner(q("htb", tcHandle(VETH_MAJOR, 0)), kinds, VETH_MAJOR)).toBe("ours");
    expect(rootOwner(q("fq", tcHandle(VETH_MAJOR, 0)), kinds, VETH_MAJOR)).toBe("ours");
    expect(rootOwner(q("htb", tcHandle(1, 0)), kinds, VETH_MAJOR)).toBe("foreign");
    expect(rootOwner(q("htb", tcHandle(IFB_MAJOR, 0)), kinds, VETH_MAJOR)).toBe("foreign"); // the other major
    expect(rootOwner(q("tbf", tcHandle(VETH_MAJOR, 0)), kinds, VETH_MAJOR)).toBe("foreign"); // our handle, not our kind
    expect(rootOwner(q("fq_codel", 0x80010000), kinds, VETH_MAJOR)).toBe("foreign"); // added by someone: kernel-assigned 8001:
    const dump = [q("clsact", 0xffff0000, { parent: 0xfffffff1 }), q("htb", tcHandle(1, 0)), q("noqueue", 0, { index: 6 })];
    expect(rootQdisc(dump, 5)?.kind).toBe("htb");
    expect(rootQdisc(dump, 7)).toBeUndefined();
  });

  it("IFBs: ours by the alias mark, an earlier build's by our root with default class 0, else a guest's", () => {
    const ourRoot = q("htb", tcHandle(IFB_MAJOR, 0), { htb: { defaultClass: 0, r2q: 10 } });
    const guestRoot = q("htb", tcHandle(IFB_MAJOR, 0), { htb: { defaultClass: GUEST_DEFCLS, r2q: 10 } });
    expect(ifbOwner(link({ alias: IFB_MARK }), ourRoot, IFB_MAJOR)).toBe("ours");
    expect(ifbOwner(link({ alias: IFB_MARK }), undefined, IFB_MAJOR)).toBe("ours");
    expect(ifbOwner(link({}), ourRoot, IFB_MAJOR)).toBe("legacy");
    expect(ifbOwner(link({}), guestRoot, IFB_MAJOR)).toBe("guest"); // our root on someone else's IFB: never adopted
    expect(ifbOwner(link({}), q("pfifo_fast", 0), IFB_MAJOR)).toBe("guest");
    expect(ifbOwner(link({ alias: "theirs" }), q("htb", tcHandle(1, 0)), IFB_MAJOR)).toBe("guest");
    expect(ifbOwner(link({ kind: "veth", alias: IFB_MARK }), undefined, IFB_MAJOR)).toBe("not-ifb");
    expect(ifbOwner(link({ kind: undefined }), undefined, IFB_MAJOR)).toBe("not-ifb");
    expect(GUEST_DEFCLS).toBeGreaterThan(3 * 0x5554); // no class of ours ever has that minor
  });

  it("refusals are code 105 and say what is in the way", () => {
    const e = foreignRootError("veth1234", q("tbf", 0x80010000), "htb", VETH_MAJOR);
    expect([e.code, e.msg, e.details]).toEqual([105, "ebpf-bandwidth: veth1234 already has a root qdisc of another tool (tbf 8001:)", "nothing was changed; ebpf-bandwidth needs the root of this device for its HTB (handle 7c1:)"]);
    expect(foreignRootError("veth1234", q("htb", 0x10000), "fq", VETH_MAJOR).details).toBe("nothing was changed; ebpf-bandwidth needs the root of this device for its fq (handle 7c1:)");
    expect([notIfbError("eth0", undefined).code, notIfbError("eth0", undefined).msg]).toEqual([105, "ebpf-bandwidth: ifbDevice eth0 is a non-virtual device, not an ifb"]);
  });
});
