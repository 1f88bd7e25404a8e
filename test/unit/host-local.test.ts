// host-local without root or processes: address parsing/printing (checked against the
// `ip-address` package as an independent oracle), range defaults, config validation (code 7,
// field named), the reference's allocation order, requests, rollback, owner matching, resolv.conf.
import { Address4, Address6 } from "ip-address";
import { describe, expect, it } from "vitest";
import { CniError, Code } from "../../core/errors";
import { parseNetConf } from "../../core/config";
import type { CmdArgs } from "../../core/plugin";
import { allocate, allocateAll, freeCount } from "../../ipam/host-local/allocator";
import { parseConfig, type HostLocalConfig } from "../../ipam/host-local/config";
import { FakeStore } from "../../ipam/host-local/fake-store";
import { formatIP, formatIPNet, parseIP, parseIPNet, parseIPOrCIDR, type IP } from "../../core/ip";
import { parseResolvConfText } from "../../ipam/host-local/resolv-conf";
import { matchOwner, reservationsOf } from "../../ipam/host-local/store";

function cmdArgs(ipam: object, extra: object = {}, cniArgs: [string, string][] = [], cniVersion = "1.0.0"): CmdArgs {
  const stdin = Buffer.from(JSON.stringify({ cniVersion, name: "net1", type: "bridge", ipam: { type: "host-local", ...ipam }, ...extra }));
  return {
    command: "ADD", containerID: "c1", netns: "/x", ifname: "eth0", args: cniArgs, ignoreUnknown: false,
    path: [], stdin, conf: parseNetConf(stdin, "ADD"), env: {},
  };
}
const cfgOf = (ipam: object, extra: object = {}, cniArgs: [string, string][] = [], v = "1.0.0"): HostLocalConfig =>
  parseConfig(cmdArgs(ipam, extra, cniArgs, v));

function configError(ipam: object, extra: object = {}, cniArgs: [string, string][] = [], v = "1.0.0"): CniError {
  try {
    cfgOf(ipam, extra, cniArgs, v);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error("expected a config error");
}

const ip = (s: string): IP => parseIP(s)!;
const range = (subnet: string, more: object = {}) => ({ subnet, ...more });

describe("host-local addresses (Go net semantics)", () => {
  it("prints IPv6 like Go: first longest zero run of ≥ 2 groups becomes ::", () => {
    const cases: [string, string][] = [
      ["2001:db8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:0:1:2:3:4:5:6", "2001:0:1:2:3:4:5:6"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["3ffe:ffff:0:01ff::0010", "3ffe:ffff:0:1ff::10"],
      ["::ffff:10.1.2.3", "10.1.2.3"],
      ["::1.2.3.4", "::102:304"],
      ["FE80::A", "fe80::a"],
    ];
    for (const [input, out] of cases) expect(formatIP(ip(input)), input).toBe(out);
  });

  it("refuses what Go refuses", () => {
    for (const bad of ["010.0.0.1", "256.1.1.1", "1.2.3", "1:2:3:4:5:6:7::8", "1::2::3", "12345::", "1.2.3.4/24", "", "::g", "fe80::1%eth0"]) {
      expect(parseIP(bad), bad).toBeUndefined();
    }
    expect(parseIPNet("10.0.0.0/33")).toBeUndefined();
    expect(parseIPNet("::ffff:10.0.0.0/104")).toBeUndefined();
    expect(parseIPOrCIDR("10.1.2.3/24")).toEqual(ip("10.1.2.3"));
  });

  it("stores and reports an IPv6 range's IPv4-mapped address as Go's host-local does (net.IP and IPNet String)", () => {
    // ::fffe:0:0/95 runs into ::ffff:0:0/96: Go names the file "0.0.0.0" and reports "0.0.0.0/0".
    const rs = cfgOf({ ranges: [[range("::fffe:0:0/95", { rangeStart: "::fffe:ffff:ffff" })]] }).rangeSets[0]!;
    const s = new FakeStore();
    const got = ["a", "b"].map((id) => allocate(s, rs, 0, id, "eth0")).map((a) => formatIPNet(a.ip, a.range.prefix));
    expect(got).toEqual(["::fffe:ffff:ffff/95", "0.0.0.0/0"]);
    expect([...s.reservations.keys()]).toEqual(["::fffe:ffff:ffff", "0.0.0.0"]);
    expect(s.last.get(0)).toBe("0.0.0.0");
  });

  it("agrees with ip-address on 2,000 random addresses", () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 1000; i++) {
      // Sparse groups so that zero runs of every length occur.
      const groups = Array.from({ length: 8 }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 65536)));
      const v = groups.reduce((a, g) => (a << 16n) | BigInt(g), 0n);
      if (v >> 32n === 0xffffn) continue;
      const oracle = Address6.fromBigInt(v);
      const ours = formatIP({ family: 6, value: v });
      expect(ours).toBe(oracle.correctForm());
      expect(parseIP(oracle.canonicalForm())).toEqual({ family: 6, value: v });
      const v4 = BigInt(Math.floor(rnd() * 2 ** 32));
      const a4 = Address4.fromBigInt(v4);
      expect(formatIP({ family: 4, value: v4 })).toBe(a4.correctForm());
      expect(parseIP(a4.correctForm())?.value).toBe(v4);
    }
  });
});

describe("host-local config", () => {
  it("applies the reference's defaults (IPv4 and IPv6)", () => {
    const c = cfgOf({ ranges: [[range("10.1.0.0/24")], [range("2001:db8::/64")]] });
    const [v4, v6] = [c.rangeSets[0]![0]!, c.rangeSets[1]![0]!];
    expect(formatIP({ family: 4, value: v4.gateway })).toBe("10.1.0.1");
    expect(formatIP({ family: 4, value: v4.start })).toBe("10.1.0.1"); // skipped as the gateway
    expect(formatIP({ family: 4, value: v4.end })).toBe("10.1.0.254");
    expect(formatIP({ family: 6, value: v6.end })).toBe("2001:db8::ffff:ffff:ffff:ffff");
    expect(c.dataDir).toBe("/var/lib/cni/networks");
  });

  it("orders range sets as the reference: ipRanges, legacy top-level range, ranges", () => {
    const c = cfgOf(
      { subnet: "10.2.0.0/24", ranges: [[range("10.3.0.0/24")]] },
      { runtimeConfig: { ipRanges: [[range("10.1.0.0/24")]] } },
    );
    expect(c.rangeSets.map((s) => formatIP({ family: 4, value: s[0]!.network }))).toEqual(["10.1.0.0", "10.2.0.0", "10.3.0.0"]);
  });

  it("folds key case like Go", () => {
    const c = cfgOf({ Ranges: [[{ Subnet: "10.1.0.0/24", RANGESTART: "10.1.0.10" }]], DataDir: "/tmp/x" });
    expect(formatIP({ family: 4, value: c.rangeSets[0]![0]!.start })).toBe("10.1.0.10");
    expect(c.dataDir).toBe("/tmp/x");
  });

  it("parses routes as Go prints them and requested addresses from all three sources", () => {
    const c = cfgOf(
      { ranges: [[range("10.1.0.0/24")], [range("2001:db8::/64")]], routes: [{ dst: "3ffe:ffff:0:01ff::1/64" }, { dst: "0.0.0.0/0", gw: "10.1.0.254" }] },
      { args: { cni: { ips: ["2001:db8::5"] } } },
      [["IP", "10.1.0.9/24"]],
    );
    expect(c.routes).toEqual([{ dst: "3ffe:ffff:0:1ff::1/64" }, { dst: "0.0.0.0/0", gw: "10.1.0.254" }]);
    expect(c.requested.map((r) => r && formatIP(r))).toEqual(["10.1.0.9", "2001:db8::5"]);
    const rc = cfgOf({ ranges: [[range("10.1.0.0/24")]] }, { runtimeConfig: { ips: ["10.1.0.7"] } });
    expect(rc.requested.map((r) => r && formatIP(r))).toEqual(["10.1.0.7"]);
  });

  const table: [string, object, object, [string, string][], string, RegExp, string?][] = [
    ["no ipam ranges", {}, {}, [], "ipam.ranges", /no IP ranges/],
    ["missing subnet", { ranges: [[{ rangeStart: "10.0.0.2" }]] }, {}, [], "ipam.ranges[0][0].subnet", /subnet/],
    ["bad subnet", { ranges: [[range("10.0.0.0")]] }, {}, [], "ipam.ranges[0][0].subnet", /CIDR/],
    ["/31 too small", { ranges: [[range("10.0.0.0/31")]] }, {}, [], "ipam.ranges[0][0].subnet", /too small/],
    ["/127 too small", { ranges: [[range("2001:db8::/127")]] }, {}, [], "ipam.ranges[0][0].subnet", /too small/],
    ["host bits", { ranges: [[range("10.0.0.1/24")]] }, {}, [], "ipam.ranges[0][0].subnet", /host bits.*10\.0\.0\.0/],
    ["rangeStart outside", { ranges: [[range("10.0.0.0/24", { rangeStart: "10.0.1.5" })]] }, {}, [], "ipam.ranges[0][0].rangeStart", /not in network/],
    ["rangeEnd outside", { ranges: [[range("10.0.0.0/24", { rangeEnd: "10.0.1.5" })]] }, {}, [], "ipam.ranges[0][0].rangeEnd", /not in network/],
    ["gateway outside", { ranges: [[range("10.0.0.0/24", { gateway: "10.9.0.1" })]] }, {}, [], "ipam.ranges[0][0].gateway", /not in network/],
    ["gateway wrong family", { ranges: [[range("10.0.0.0/24", { gateway: "2001:db8::1" })]] }, {}, [], "ipam.ranges[0][0].gateway", /IPv4/],
    ["end before start", { ranges: [[range("10.0.0.0/24", { rangeStart: "10.0.0.9", rangeEnd: "10.0.0.5" })]] }, {}, [], "ipam.ranges[0][0].rangeEnd", /before/],
    ["only the gateway", { ranges: [[range("10.0.0.0/24", { rangeStart: "10.0.0.1", rangeEnd: "10.0.0.1" })]] }, {}, [], "ipam.ranges[0][0]", /no usable/],
    ["overlap in set", { ranges: [[range("10.0.0.0/24"), range("10.0.0.0/16")]] }, {}, [], "ipam.ranges[0][1]", /overlaps/],
    ["mixed families", { ranges: [[range("10.0.0.0/24"), range("2001:db8::/64")]] }, {}, [], "ipam.ranges[0][1]", /mixed/],
    ["overlap across sets", { ranges: [[range("10.0.0.0/24")], [range("10.0.0.0/25")]] }, {}, [], "ipam.ranges[1]", /overlaps ipam.ranges\[0\]/],
    ["ipRanges overlap", { ranges: [[range("10.0.0.0/24")]] }, { runtimeConfig: { ipRanges: [[range("10.0.0.0/24")]] } }, [], "ipam.ranges[0]", /overlaps runtimeConfig.ipRanges\[0\]/],
    ["range set not array", { ranges: [range("10.0.0.0/24")] }, {}, [], "ipam.ranges[0]", /array/],
    ["subnet not string", { ranges: [[{ subnet: 10 }]] }, {}, [], "ipam.ranges[0][0].subnet", /string/],
    ["requested outside", { ranges: [[range("10.0.0.0/24")]] }, {}, [["IP", "10.9.9.9"]], "CNI_ARGS IP", /not in any configured range/],
    ["requested gateway", { ranges: [[range("10.0.0.0/24")]] }, { args: { cni: { ips: ["10.0.0.1"] } } }, [], "args.cni.ips[0]", /gateway/],
    ["requested broadcast", { ranges: [[range("10.0.0.0/24", { rangeEnd: "10.0.0.255" })]] }, { runtimeConfig: { ips: ["10.0.0.255"] } }, [], "runtimeConfig.ips[0]", /broadcast/],
    ["requested garbage", { ranges: [[range("10.0.0.0/24")]] }, { runtimeConfig: { ips: ["nope"] } }, [], "runtimeConfig.ips[0]", /not an IP/],
    ["two requests in one set", { ranges: [[range("10.0.0.0/24")]] }, { runtimeConfig: { ips: ["10.0.0.5", "10.0.0.6"] } }, [], "runtimeConfig.ips[1]", /same range set/],
    ["route without dst", { ranges: [[range("10.0.0.0/24")]], routes: [{ gw: "10.0.0.1" }] }, {}, [], "ipam.routes[0].dst", /destination/],
    ["two v4 sets at 0.2.0", { ranges: [[range("10.0.0.0/24")], [range("10.1.0.0/24")]] }, {}, [], "ipam.ranges", /more than 1 address per family/, "0.2.0"],
  ];
  for (const [name, ipam, extra, cniArgs, fieldPath, detail, v] of table) {
    it(`rejects ${name} as code 7 naming "${fieldPath}"`, () => {
      const e = configError(ipam, extra, cniArgs, v);
      expect(e.code).toBe(Code.InvalidNetworkConfig);
      expect(e.msg).toContain(`"${fieldPath}"`);
      expect(e.details).toMatch(detail);
    });
  }

  it("accepts a configured gateway inside [rangeStart, rangeEnd] (skipped, as the reference does)", () => {
    const c = cfgOf({ ranges: [[range("10.0.0.0/24", { gateway: "10.0.0.254" })]] });
    const s = new FakeStore();
    for (let i = 0; i < 253; i++) allocate(s, c.rangeSets[0]!, 0, `c${i}`, "eth0");
    expect(s.owner("10.0.0.254")).toBeUndefined();
    expect(s.owner("10.0.0.1")).toBe("c0\r\neth0"); // the first ADD: the range starts at .1
    expect(() => allocate(s, c.rangeSets[0]!, 0, "x", "eth0")).toThrow(/no IP addresses available/);
  });
});

describe("host-local allocator (reference order)", () => {
  const set = (ipam: object) => cfgOf(ipam).rangeSets[0]!;
  const take = (s: FakeStore, rs: ReturnType<typeof set>, id: string) => formatIP(allocate(s, rs, 0, id, "eth0").ip);

  it("starts at .2, goes round-robin from last_reserved_ip + 1, wraps and skips the gateway", () => {
    const rs = set({ ranges: [[range("10.0.0.0/29")]] }); // .1 gw, .2–.6 usable, .7 broadcast
    const s = new FakeStore();
    expect(["a", "b", "c"].map((id) => take(s, rs, id))).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    s.release("10.0.0.3");
    expect(take(s, rs, "d")).toBe("10.0.0.5"); // not the freed .3: round robin
    expect(take(s, rs, "e")).toBe("10.0.0.6");
    expect(take(s, rs, "f")).toBe("10.0.0.3"); // wrapped past the gateway
    const err = (() => { try { take(s, rs, "g"); } catch (e) { return e as CniError; } })();
    expect(err?.code).toBe(Code.AddressesExhausted);
    expect(freeCount(s, rs)).toBe(0n);
  });

  it("walks the ranges of a set in order and wraps to the first", () => {
    const rs = set({ ranges: [[range("10.0.0.0/24", { rangeStart: "10.0.0.10", rangeEnd: "10.0.0.11" }), range("10.0.1.0/24", { rangeStart: "10.0.1.20", rangeEnd: "10.0.1.21" })]] });
    const s = new FakeStore();
    s.last.set(0, "10.0.1.20");
    expect(["a", "b", "c", "d"].map((id) => take(s, rs, id))).toEqual(["10.0.1.21", "10.0.0.10", "10.0.0.11", "10.0.1.20"]);
  });

  it("ignores a last_reserved_ip outside the set (lost round robin, as the reference)", () => {
    const rs = set({ ranges: [[range("10.0.0.0/24")]] });
    const s = new FakeStore();
    s.last.set(0, "192.168.0.1");
    expect(take(s, rs, "a")).toBe("10.0.0.2");
  });

  it("refuses a second address for the same attachment, including legacy ID-only files", () => {
    const rs = set({ ranges: [[range("10.0.0.0/24")]] });
    const s = new FakeStore({ "10.0.0.7": "c1" });
    expect(() => take(s, rs, "c1")).toThrow(/duplicate allocation/);
    expect(take(s, rs, "c2")).toBe("10.0.0.2");
  });

  it("reserves a requested address or fails with 103", () => {
    const c = cfgOf({ ranges: [[range("10.0.0.0/24")]] }, { runtimeConfig: { ips: ["10.0.0.50"] } });
    const s = new FakeStore();
    expect(formatIP(allocateAll(s, c.rangeSets, c.requested, "a", "eth0")[0]!.ip)).toBe("10.0.0.50");
    expect(() => allocateAll(s, c.rangeSets, c.requested, "b", "eth0")).toThrow(expect.objectContaining({ code: Code.AddressInUse }));
  });

  it("rolls back the sets already reserved when a later one fails", () => {
    const c = cfgOf({ ranges: [[range("10.0.0.0/24")], [range("2001:db8::/64")]] }, { runtimeConfig: { ips: ["2001:db8::9"] } });
    const s = new FakeStore({ "2001:db8::9": "other\r\neth0" });
    expect(() => allocateAll(s, c.rangeSets, c.requested, "a", "eth0")).toThrow(/failed to allocate for range 1/);
    expect([...s.list().keys()]).toEqual(["2001:db8::9"]);
  });

  it("counts free addresses exactly, even for a /64", () => {
    const s = new FakeStore({ "2001:db8::2": "a\r\neth0" });
    expect(freeCount(s, set({ ranges: [[range("2001:db8::/64")]] }))).toBe(2n ** 64n - 3n); // network, gateway, one taken
  });
});

describe("host-local owners and resolv.conf", () => {
  it("matches owners like the reference (trimmed; legacy ID only as a fallback)", () => {
    expect(matchOwner("c1\r\neth0", "c1", "eth0")).toBe("exact");
    expect(matchOwner(" c1\r\neth0\n", "c1", "eth0")).toBe("exact");
    expect(matchOwner("c1", "c1", "eth0")).toBe("legacy");
    expect(matchOwner("c1\r\neth1", "c1", "eth0")).toBeUndefined();
    expect(matchOwner("", "c1", "eth0")).toBeUndefined();
    const s = new FakeStore({ "10.0.0.2": "c1", "10.0.0.3": "c1\r\neth0" });
    expect(reservationsOf(s, "c1", "eth0")).toEqual(["10.0.0.3"]);
    expect(reservationsOf(s, "c1", "eth1")).toEqual(["10.0.0.2"]);
  });

  it("parses resolv.conf as the reference", () => {
    const dns = parseResolvConfText("# c\n; c\nnameserver 10.0.0.53\nnameserver  2001:db8::53 \ndomain a.example\ndomain b.example\nsearch x.example y.example\noptions ndots:5 rotate\nsortlist 1.2.3.4\nbare\n");
    expect(dns).toEqual({ nameservers: ["10.0.0.53", "2001:db8::53"], domain: "b.example", search: ["x.example", "y.example"], options: ["ndots:5", "rotate"] });
  });
});
