// core/ip.ts, the one IP-address module, against the `ip-address` package as an independent oracle,
// and the cases where the two modules it replaced (kernel/netlink/ip.ts, ipam/host-local/ip.ts)
// differed: IPv4-mapped IPv6 (::ffff:a.b.c.d), zones, odd byte lengths.
import { Address4, Address6 } from "ip-address";
import { describe, expect, it } from "vitest";
import {
  formatAddr, formatIP, formatIPNet, formatIpBytes, ipFamily, networkOf, parseAddr, parseCidr, parseIP, parseIpBytes, type IP,
} from "../../core/ip";
import { decodeAttrs, defineAttrs, encodeAttrs, splitAttrs } from "../../kernel/netlink/attrs";

const MAPPED: IP = { family: 6, value: 0xffff01020304n }; // ::ffff:1.2.3.4
const v6Bytes = (a: Address6) => Buffer.from(a.canonicalForm().replace(/:/g, ""), "hex");

describe("IPv4-mapped IPv6 (where the two modules differed)", () => {
  it("prints as Go's net.IP.String (dotted quad) and netip.Addr.String (::ffff:a.b.c.d)", () => {
    // Before: both modules printed "::ffff:102:304", which is neither of Go's forms.
    expect(formatIP(MAPPED)).toBe("1.2.3.4");
    expect(formatAddr(MAPPED)).toBe("::ffff:1.2.3.4");
    expect(formatIpBytes(parseIpBytes("::ffff:1.2.3.4"))).toBe("::ffff:1.2.3.4");
  });

  it("parses keeping the family (parseAddr, the netlink side) or canonicalised to IPv4 (parseIP, host-local)", () => {
    expect(parseAddr("::ffff:1.2.3.4")).toEqual(MAPPED);
    expect(parseAddr("::ffff:102:304")).toEqual(MAPPED);
    expect(parseIP("::ffff:1.2.3.4")).toEqual({ family: 4, value: 0x01020304n });
    expect(ipFamily("::ffff:1.2.3.4")).toBe(6);
    expect(parseIpBytes("::ffff:1.2.3.4").toString("hex")).toBe("00000000000000000000ffff01020304");
  });

  it("round-trips through the netlink codec as 16 bytes", () => {
    const schema = defineAttrs("t", { ip: { id: 1, type: "ip" } });
    const buf = encodeAttrs(schema, { ip: "::ffff:1.2.3.4" });
    expect(splitAttrs(buf)[0]!.payload.length).toBe(16);
    expect(decodeAttrs(schema, buf)).toEqual({ ip: "::ffff:1.2.3.4" });
  });

  it("prints a network as Go's IPNet.String: the address as IPv4, the mask's last 32 bits", () => {
    const ip: IP = { family: 6, value: 0xffff00000005n };
    expect(formatIPNet(ip, 120)).toBe("0.0.0.5/24");
    expect(formatIPNet(ip, 80)).toBe("0.0.0.5/0");
    expect(formatIPNet({ family: 6, value: 0xfd00n << 112n | 5n }, 64)).toBe("fd00::5/64");
    expect(formatIPNet({ family: 4, value: 0x0a000005n }, 24)).toBe("10.0.0.5/24");
  });

  it("keeps the family through networkOf", () => {
    expect(networkOf(parseCidr("::ffff:10.1.2.3/120"))).toBe("::ffff:10.1.2.0");
  });
});

describe("what Go refuses", () => {
  it("refuses a zone (the netlink side used to drop it silently)", () => {
    expect(parseAddr("fe80::1%eth0")).toBeUndefined();
    expect(() => parseIpBytes("fe80::1%eth0")).toThrow(/invalid IP address/);
    expect(() => ipFamily("fe80::1%eth0")).toThrow(/invalid IP address/);
  });

  it("prints byte lengths other than 4 and 16 as Go does", () => {
    expect(formatIpBytes(Buffer.from([1, 2]))).toBe("?0102");
    expect(formatIpBytes(Buffer.alloc(0))).toBe("<nil>");
  });
});

describe("agreement with ip-address", () => {
  it("prints and parses 3,000 random addresses (IPv4, IPv6, IPv4-mapped) as the oracle does", () => {
    let seed = 4242;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const group = () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 65536));
    for (let i = 0; i < 1000; i++) {
      // IPv6 with sparse groups, so that zero runs of every length occur.
      const v = Array.from({ length: 8 }, group).reduce((a, g) => (a << 16n) | BigInt(g), 0n);
      const a6 = Address6.fromBigInt(v);
      const ip6: IP = { family: 6, value: v };
      const mappedNow = v >> 32n === 0xffffn;
      expect(formatIP(ip6)).toBe(mappedNow ? a6.to4().correctForm() : a6.correctForm());
      expect(formatAddr(ip6)).toBe(mappedNow ? a6.to4in6() : a6.correctForm());
      expect(parseAddr(a6.canonicalForm())).toEqual(ip6);
      expect(parseIpBytes(formatAddr(ip6))).toEqual(v6Bytes(a6));
      expect(formatIpBytes(v6Bytes(a6))).toBe(formatAddr(ip6));

      // IPv4-mapped: every one of them, printed both ways and parsed back both ways.
      const v4 = BigInt(Math.floor(rnd() * 2 ** 32));
      const m = Address6.fromBigInt(0xffff00000000n | v4);
      const mapped: IP = { family: 6, value: 0xffff00000000n | v4 };
      expect(formatIP(mapped)).toBe(m.to4().correctForm());
      expect(formatAddr(mapped)).toBe(m.to4in6());
      expect(parseAddr(m.to4in6())).toEqual(mapped);
      expect(parseIP(m.to4in6())).toEqual({ family: 4, value: v4 });

      // IPv4.
      const a4 = Address4.fromBigInt(v4);
      expect(formatIP({ family: 4, value: v4 })).toBe(a4.correctForm());
      expect(formatAddr({ family: 4, value: v4 })).toBe(a4.correctForm());
      expect(parseAddr(a4.correctForm())).toEqual({ family: 4, value: v4 });
      expect(parseIpBytes(a4.correctForm())).toEqual(Buffer.from(a4.toArray()));
    }
  });
});
