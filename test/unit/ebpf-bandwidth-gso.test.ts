// The container interface's GSO limit (plan.ts gsoPlan, applied by gso.ts): about a millisecond of
// the egress cap, between two full segments and 64 KiB; and the netlink attributes that carry it.
import { describe, expect, it } from "vitest";
import { decodeBody, encodeBody } from "../../kernel/netlink/attrs";
import { IFLA } from "../../kernel/netlink/constants";
import { decodeLink, linkBody, setLinkRequest } from "../../kernel/netlink/link";
import { GSO_MAX, parseConfig } from "../../plugins/ebpf-bandwidth/config";
import { GSO_HEADROOM, GSO_MAX_SEGS, gsoPlan } from "../../plugins/ebpf-bandwidth/plan";
import { planFor } from "../../plugins/ebpf-bandwidth/gso";

const MBIT = 1_000_000;
const egress = (bits: number) => parseConfig({ egressRate: bits, egressBurst: 524_288 }, {}, "n").egress!;

describe("gsoPlan", () => {
  it("is about a millisecond of the egress rate", () => {
    expect(gsoPlan(egress(100 * MBIT), 1500)).toEqual({ maxSize: 12_500, maxSegs: 8 });
    expect(gsoPlan(egress(200 * MBIT), 1500)).toEqual({ maxSize: 25_000, maxSegs: 16 });
  });

  it("holds at least two full segments: the kernel subtracts MAX_TCP_HEADER (≤ 320 bytes) first", () => {
    for (const bits of [8, 64_000, 1 * MBIT, 10 * MBIT]) {
      const g = gsoPlan(egress(bits), 1500);
      expect(g).toEqual({ maxSize: 2 * 1500 + GSO_HEADROOM, maxSegs: 2 });
      expect(Math.floor((g.maxSize - 321) / 1448)).toBe(2); // what TCP builds from it (MSS 1448 with timestamps)
    }
    expect(gsoPlan(egress(10 * MBIT), 9000)).toEqual({ maxSize: 18_000 + GSO_HEADROOM, maxSegs: 2 }); // jumbo frames
  });

  it("is the kernel's default (64 KiB, 65535 segments) from about 524 Mbit/s on: nothing changes there", () => {
    for (const bits of [524_288_000, 1000 * MBIT, 100_000 * MBIT, Number.MAX_SAFE_INTEGER]) expect(gsoPlan(egress(bits), 1500)).toEqual({ maxSize: GSO_MAX, maxSegs: GSO_MAX_SEGS });
    expect(gsoPlan(egress(524_000_000), 1500).maxSize).toBe(65_500);
    // An MTU so large that two segments exceed 64 KiB: capped at 64 KiB all the same.
    expect(gsoPlan(egress(10 * MBIT), 65_000).maxSize).toBe(GSO_MAX);
  });

  it("applies to the from-container direction through the IFB only (not police, not ingress-only)", () => {
    const both = parseConfig({ egressRate: 100 * MBIT, egressBurst: 524_288, ingressRate: 10 * MBIT, ingressBurst: 524_288 }, {}, "n");
    expect(planFor(both, "htb", 1500)).toEqual({ maxSize: 12_500, maxSegs: 8 }); // the egress rate, not the ingress one
    expect(planFor(both, "edt", 1500)).toEqual({ maxSize: 12_500, maxSegs: 8 }); // EDT shapes egress through the IFB too
    expect(planFor(both, "police", 1500)).toBeUndefined();
    expect(planFor(parseConfig({ ingressRate: 10 * MBIT, ingressBurst: 524_288 }, {}, "n"), "htb", 1500)).toBeUndefined();
  });
});

describe("GSO attributes (rtnetlink)", () => {
  it("RTM_SETLINK carries IFLA_GSO_MAX_SIZE (41), IFLA_GSO_MAX_SEGS (40), IFLA_GSO_IPV4_MAX_SIZE (63) as u32", () => {
    expect([IFLA.GSO_MAX_SEGS, IFLA.GSO_MAX_SIZE, IFLA.GSO_IPV4_MAX_SIZE]).toEqual([40, 41, 63]);
    const r = setLinkRequest(7, { gsoMaxSize: 12_500, gsoMaxSegs: 8, gsoIpv4MaxSize: 12_500 });
    // ifinfomsg (16 bytes), then the attributes in schema order, each 8 bytes: len 8, type, u32 LE.
    expect(r.payload.subarray(16).toString("hex")).toBe(
      "08002800" + "08000000" + // IFLA_GSO_MAX_SEGS 8
        "08002900" + "d4300000" + // IFLA_GSO_MAX_SIZE 12500
        "08003f00" + "d4300000", // IFLA_GSO_IPV4_MAX_SIZE 12500
    );
    expect(decodeBody(linkBody, r.payload).header).toMatchObject({ index: 7, flags: 0, change: 0 });
  });

  it("decodes the limits a link reports, and leaves them out where the kernel does not send them", () => {
    const reply = (attrs: Record<string, unknown>) => encodeBody(linkBody, { header: { family: 0, type: 1, index: 3, flags: 0 }, attrs });
    expect(decodeLink(reply({ ifname: "eth0", gsoMaxSize: 12_500, gsoMaxSegs: 8, gsoIpv4MaxSize: 12_500, tsoMaxSize: 524_280, tsoMaxSegs: 65_535 })).gso).toEqual({
      maxSize: 12_500, maxSegs: 8, ipv4MaxSize: 12_500, tsoMaxSize: 524_280, tsoMaxSegs: 65_535,
    });
    expect(decodeLink(reply({ ifname: "eth0", gsoMaxSize: 65_536, gsoMaxSegs: 65_535 })).gso).toEqual({ maxSize: 65_536, maxSegs: 65_535 }); // before 6.3
    expect(decodeLink(reply({ ifname: "eth0" })).gso).toBeUndefined();
  });
});
