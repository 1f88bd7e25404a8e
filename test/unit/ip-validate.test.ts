// Our IPv4/IPv6 validators (core/ip.ts) agree with node:net's, which we avoid loading on
// the exec path: a fixed list of edge cases plus random mutations of valid addresses.
import { isIPv4 as nodeV4, isIPv6 as nodeV6 } from "node:net";
import { describe, expect, it } from "vitest";
import { isCidr, isIPv4, isIPv6 } from "../../core/ip";

const EDGE = ["1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "::", "::1", "fe80::1%eth0", "fe80::1%", "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4", "12345::", "g::1", ":1", "1:",
  ":::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::", "", "1.2.3.4/24", "fd00::/64", "abcd:ef01:2345:6789:abcd:ef01:2345:6789", " 1.2.3.4"];

describe("IP validators", () => {
  it("agree with node:net on edge cases", () => {
    for (const s of EDGE) expect([s, isIPv4(s), isIPv6(s)]).toEqual([s, nodeV4(s), nodeV6(s)]);
  });
  it("agree with node:net on 20,000 random mutations", () => {
    const seeds = ["10.0.0.1", "fd00:1::5", "::ffff:10.1.2.3", "fe80::a:b%eth0", "1:2:3:4:5:6:7:8"];
    const alphabet = "0123456789abcdefg.:%";
    let x = 12345;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 20000; i++) {
      let s = seeds[rnd(seeds.length)]!;
      for (let k = rnd(3) + 1; k > 0; k--) {
        const at = rnd(s.length + 1);
        const op = rnd(3);
        const c = alphabet[rnd(alphabet.length)]!;
        s = op === 0 ? s.slice(0, at) + c + s.slice(at) : op === 1 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + c + s.slice(at + 1);
      }
      if (isIPv4(s) !== nodeV4(s) || isIPv6(s) !== nodeV6(s)) expect([s, isIPv4(s), isIPv6(s)]).toEqual([s, nodeV4(s), nodeV6(s)]);
    }
  });
});

describe("CIDR validation (Go net.ParseCIDR acceptance)", () => {
  it("accepts address/prefix with host bits, refuses everything else", () => {
    for (const ok of ["10.1.2.3/24", "0.0.0.0/0", "::/0", "fd00::5/64", "::ffff:1.2.3.4/128", "1.2.3.4/32"]) expect([ok, isCidr(ok)]).toEqual([ok, true]);
    for (const no of ["10.1.2.3", "10.1.2.3/33", "fd00::/129", "999.1.1.1/24", "default", "fe80::1%eth0/64", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/ 8"]) expect([no, isCidr(no)]).toEqual([no, false]);
  });
});
