// Request builders and reply decoders for links, addresses, routes, neighbours, bridge VLANs and
// tc, checked against hand-assembled kernel byte layouts (goldens) and by round trips.
import { describe, expect, it } from "vitest";
import { addAddrRequest, decodeAddr, deleteAddrRequest } from "../../kernel/netlink/addr";
import { decodeAttrs, decodeBody, encodeBody } from "../../kernel/netlink/attrs";
import { bridgeVlanRequest, decodeBridgeLink, vlanInfoEntries } from "../../kernel/netlink/bridge-vlan";
import { AF_BRIDGE, BRIDGE_VLAN_INFO, IFF_UP, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM } from "../../kernel/netlink/constants";
import { broadcastOf, formatIpBytes, networkOf, parseCidr, parseIpBytes } from "../../core/ip";
import {
  addBridgeRequest, addVethRequest, addVlanRequest, bridgeLinkBody, decodeLink, linkBody, setBridgePortRequest, setLinkRequest,
} from "../../kernel/netlink/link";
import { addNeighRequest, decodeNeigh, neighBody, useNeighRequest } from "../../kernel/netlink/neigh";
import { parsePsched, xmitBytes, xmitTicks } from "../../kernel/netlink/psched";
import { addRouteRequest, decodeRoute, deleteRouteRequest } from "../../kernel/netlink/route";
import {
  bpfFilterRequest, decodeClass, decodeFilter, decodeQdisc, deleteFilterRequest, htbClassRequest, qdiscRequest, tcBody,
} from "../../kernel/netlink/tc";
import { formatQdiscHandle, formatTcHandle, isRootQdisc, parseTcHandle, rootQdisc, tcHandle, tcMajor, tcMinor } from "../../kernel/netlink/tc-handle";

const hex = (b: Buffer) => b.toString("hex");
const zeros = (n: number) => "00".repeat(n);
// What every current kernel reports in /proc/net/psched.
const PSCHED = parsePsched("000003e8 00000040 000f4240 3b9aca00\n");

describe("link requests", () => {
  it("sets a link up (golden ifinfomsg)", () => {
    const r = setLinkRequest(5, { up: true });
    expect(r.type).toBe(RTM.SETLINK);
    expect(hex(r.payload)).toBe("0000" + "0000" + "05000000" + "01000000" + "01000000");
  });

  it("creates a veth whose peer lives in another namespace (golden)", () => {
    const r = addVethRequest({ name: "veth0", peer: { name: "eth0", netnsFd: 7 } });
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(hex(r.payload)).toBe(
      zeros(16) +
        "0a000300" + "766574683000" + "0000" + // IFLA_IFNAME "veth0"
        "3c001200" + // IFLA_LINKINFO
        "09000100" + "7665746800" + "000000" + // IFLA_INFO_KIND "veth"
        "2c000200" + // IFLA_INFO_DATA
        "28000100" + zeros(16) + // VETH_INFO_PEER: ifinfomsg then the peer's IFLA_*
        "09000300" + "6574683000" + "000000" + // IFLA_IFNAME "eth0"
        "08001c00" + "07000000", // IFLA_NET_NS_FD 7
    );
  });

  it("carries MTU and MAC on both veth ends", () => {
    const r = addVethRequest({ name: "a", mtu: 1400, mac: "02:00:00:00:00:01", peer: { name: "b", mtu: 1400, mac: "02:00:00:00:00:02" } });
    const { attrs } = decodeBody(linkBody, r.payload);
    expect(attrs).toMatchObject({ ifname: "a", mtu: 1400, address: "02:00:00:00:00:01" });
    const peer = (attrs.linkinfo as { data: { peer: { attrs: unknown } } }).data.peer.attrs;
    expect(peer).toEqual({ ifname: "b", mtu: 1400, address: "02:00:00:00:00:02" });
  });

  it("puts bridge options in IFLA_INFO_DATA", () => {
    const { attrs } = decodeBody(linkBody, addBridgeRequest({ name: "cni0", vlanFiltering: true, defaultPvid: 0, mcastSnooping: false }).payload);
    expect(attrs.linkinfo).toEqual({ kind: "bridge", data: { vlanFiltering: 1, mcastSnooping: 0, vlanDefaultPvid: 0 } });
    expect((decodeBody(linkBody, addBridgeRequest({ name: "b" }).payload).attrs.linkinfo as object)).toEqual({ kind: "bridge" });
  });

  it("encodes vlan id and 802.1ad protocol (network order)", () => {
    const { attrs } = decodeBody(linkBody, addVlanRequest({ name: "v", parent: 3, id: 100, protocol: "802.1ad" }).payload);
    expect(attrs).toMatchObject({ link: 3, linkinfo: { kind: "vlan", data: { id: 100, protocol: 0x88a8 } } });
  });

  it("detaches from a master with IFLA_MASTER 0 and renames", () => {
    const { header, attrs } = decodeBody(linkBody, setLinkRequest(4, { master: null, name: "eth1", promisc: false }).payload);
    expect(attrs).toEqual({ master: 0, ifname: "eth1" });
    expect(header).toMatchObject({ index: 4, flags: 0, change: 0x100 });
  });

  it("sends bridge port flags as AF_BRIDGE IFLA_PROTINFO | NLA_F_NESTED (golden, same bytes as `bridge link set`)", () => {
    const r = setBridgePortRequest(6, { hairpin: true, isolated: false });
    expect(hex(r.payload)).toBe(
      "0700" + "0000" + "06000000" + zeros(8) +
        "14000c80" + // IFLA_PROTINFO | NLA_F_NESTED
        "05000400" + "01000000" + // IFLA_BRPORT_MODE (hairpin) 1
        "05002100" + "00000000", // IFLA_BRPORT_ISOLATED 0
    );
  });

  it("decodes a veth bridge port reply", () => {
    const reply = encodeBody(linkBody, {
      header: { family: 0, type: 1, index: 8, flags: IFF_UP | 0x10040 },
      attrs: {
        ifname: "veth0", mtu: 1500, address: "aa:bb:cc:dd:ee:ff", master: 6, link: 2, linkNetnsid: 0, operstate: 6,
        linkinfo: { kind: "veth", slaveKind: "bridge", slaveData: { mode: 1, learning: 0, isolated: 1 } },
      },
    });
    expect(decodeLink(reply)).toMatchObject({
      index: 8, name: "veth0", kind: "veth", mtu: 1500, mac: "aa:bb:cc:dd:ee:ff", up: true, lowerUp: true, master: 6,
      link: 2, linkNetnsid: 0, operstate: "up", bridgePort: { hairpin: true, learning: false, isolated: true },
    });
  });
});

describe("address requests", () => {
  it("adds IPv4 with the computed broadcast (golden)", () => {
    const r = addAddrRequest(2, "10.0.0.2/24");
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(hex(r.payload)).toBe("02" + "18" + "00" + "00" + "02000000" + "08000100" + "0a000002" + "08000200" + "0a000002" + "08000400" + "0a0000ff");
  });

  it("adds IPv6 with IFA_F_NODAD and no broadcast; replace swaps EXCL for REPLACE", () => {
    const r = addAddrRequest(3, "fd00::2/64", { nodad: true, replace: true });
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    const d = decodeAddr(r.payload);
    expect(d).toMatchObject({ family: 6, address: "fd00::2", prefixLen: 64, index: 3, flags: 0x02 });
    expect(d.broadcast).toBeUndefined();
  });

  it("uses IFA_FLAGS for flags above 8 bits", () => {
    const d = decodeAddr(addAddrRequest(3, "10.1.0.1/16", { noprefixroute: true, nodad: true }).payload);
    expect(d.flags).toBe(0x202);
  });

  it("deletes by local address and prefix", () => {
    expect(hex(deleteAddrRequest(2, "10.0.0.2/24").payload)).toBe("02180000" + "02000000" + "08000200" + "0a000002");
  });
});

describe("route requests", () => {
  it("adds a default route via a gateway (golden)", () => {
    const r = addRouteRequest({ dst: "0.0.0.0/0", gw: "10.0.0.1" });
    // family, dst_len, src_len, tos, table main, proto boot, scope universe, type unicast, flags
    expect(hex(r.payload)).toBe("02000000" + "fe030001" + "00000000" + "08000500" + "0a000001" + "08000f00" + "fe000000");
  });

  it("uses scope link without a gateway, RTA_TABLE for big tables, metrics nested", () => {
    const r = addRouteRequest({ dst: "10.1.2.3/16", oif: 3, table: 1000, mtu: 1400, advmss: 1360 }, true);
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    const d = decodeRoute(r.payload);
    expect(d).toMatchObject({ family: 4, dst: "10.1.0.0/16", oif: 3, table: 1000, scope: 253, mtu: 1400, advmss: 1360, type: "unicast", protocol: 3 });
  });

  it("deletes with scope NOWHERE and type 0 so the kernel matches any", () => {
    const p = deleteRouteRequest({ dst: "::/0", gw: "fd00::1" }).payload;
    expect(p[0]).toBe(10);
    expect(p[6]).toBe(255); // scope
    expect(p[7]).toBe(0); // type
    expect(decodeRoute(p)).toMatchObject({ dst: "::/0", gw: "fd00::1" });
  });

  it("refuses a gateway of the other family", () => {
    expect(() => addRouteRequest({ dst: "0.0.0.0/0", gw: "fd00::1" })).toThrow(/different family/);
  });
});

describe("neighbours and bridge VLANs", () => {
  it("adds a permanent neighbour, replacing by default", () => {
    const r = addNeighRequest(4, { ip: "10.0.0.9", mac: "02:00:00:00:00:09" });
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    expect(hex(r.payload)).toBe("02000000" + "04000000" + "8000" + "00" + "00" + "08000100" + "0a000009" + "0a000200" + "020000000009" + "0000");
    const n = decodeNeigh(encodeBody(neighBody, { header: { family: 2, ifindex: 4, state: 0x82 }, attrs: { dst: "10.0.0.9" } }));
    expect(n.states).toEqual(["reachable", "permanent"]);
  });

  it("asks the kernel to resolve a neighbour now with NTF_USE", () => {
    const r = useNeighRequest(4, "10.0.0.2");
    expect(r.flags).toBe(NLM_F_CREATE);
    expect(decodeBody(neighBody, r.payload)).toEqual({ header: expect.objectContaining({ ifindex: 4, state: 0, flags: 0x01 }), attrs: { dst: "10.0.0.2" } });
  });

  it("splits VLAN ranges into RANGE_BEGIN/RANGE_END entries", () => {
    expect(vlanInfoEntries({ vid: 10, vidEnd: 20, untagged: true })).toEqual([
      { flags: BRIDGE_VLAN_INFO.UNTAGGED | BRIDGE_VLAN_INFO.RANGE_BEGIN, vid: 10 },
      { flags: BRIDGE_VLAN_INFO.UNTAGGED | BRIDGE_VLAN_INFO.RANGE_END, vid: 20 },
    ]);
    expect(() => vlanInfoEntries({ vid: 4095 })).toThrow(/invalid VLAN/);
  });

  it("adds a PVID untagged VLAN on a port (golden)", () => {
    const r = bridgeVlanRequest("add", 6, { vid: 100, pvid: true, untagged: true });
    expect(r.type).toBe(RTM.SETLINK);
    expect(hex(r.payload)).toBe(
      "0700" + "0000" + "06000000" + zeros(8) +
        "14001a00" + // IFLA_AF_SPEC (checked against strace of `bridge vlan add ... pvid untagged`)
        "06000000" + "0100" + "0000" + // IFLA_BRIDGE_FLAGS = MASTER (u16, padded)
        "08000200" + "0600" + "6400", // IFLA_BRIDGE_VLAN_INFO {flags PVID|UNTAGGED, vid 100}
    );
    expect(bridgeVlanRequest("delete", 6, { vid: 100, self: true }).type).toBe(RTM.DELLINK);
    // Several VLANs in one request, as an access PVID plus a tagged trunk range.
    const both = bridgeVlanRequest("add", 6, [{ vid: 5, pvid: true, untagged: true }, { vid: 10, vidEnd: 12 }], "veth0");
    expect(both.target).toBe("veth0 vid 5,10-12");
    expect((decodeBody(bridgeLinkBody, both.payload).attrs.afSpec as { vlanInfo: unknown[] }).vlanInfo).toEqual([
      { flags: 6, vid: 5 }, { flags: 8, vid: 10 }, { flags: 0x10, vid: 12 },
    ]);
    expect(() => bridgeVlanRequest("add", 6, [{ vid: 5 }, { vid: 6, self: true }])).toThrow(/separate requests/);
  });

  it("decodes the AF_BRIDGE dump and expands compressed ranges", () => {
    const reply = encodeBody(bridgeLinkBody, {
      header: { family: AF_BRIDGE, index: 6 },
      attrs: {
        ifname: "veth0", master: 5, protinfo: { mode: 1, learning: 1, isolated: 0 },
        afSpec: { vlanInfo: [{ flags: 6, vid: 1 }, { flags: 8, vid: 10 }, { flags: 0x10, vid: 12 }] },
      },
    });
    expect(decodeBridgeLink(reply)).toEqual({
      index: 6, name: "veth0", master: 5, port: { hairpin: true, learning: true, isolated: false },
      vlans: [{ vid: 1, pvid: true, untagged: true }, ...[10, 11, 12].map((vid) => ({ vid, pvid: false, untagged: false }))],
    });
  });
});

describe("tc", () => {
  it("parses and formats handles", () => {
    expect(parseTcHandle("1:10")).toBe(0x10010);
    expect(parseTcHandle("1:")).toBe(0x10000);
    expect(parseTcHandle("ffff:")).toBe(0xffff0000);
    expect(parseTcHandle("root")).toBe(0xffffffff);
    expect(parseTcHandle(":5")).toBe(5);
    expect(() => parseTcHandle("1:10000")).toThrow(/invalid tc handle/);
    expect(formatTcHandle(0x10010)).toBe("1:10");
    expect(formatTcHandle(0xfffffff3)).toBe("ffff:fff3");
  });

  it("makes and takes apart handles, and finds a device's root qdisc", () => {
    expect(tcHandle(0x7c1, 0x5556)).toBe(0x07c15556);
    expect(tcHandle(0xffff, 0xffff)).toBe(0xffffffff);
    expect([tcMajor(0x07c15556), tcMinor(0x07c15556)]).toEqual([0x7c1, 0x5556]);
    expect(formatQdiscHandle(0x07c10000)).toBe("7c1:");
    const dump = [
      { index: 3, kind: "clsact", parent: 0xfffffff1 },
      { index: 4, kind: "htb", parent: 0xffffffff },
      { index: 3, kind: "bfifo", parent: 0x10010 },
      { index: 3, kind: "htb", parent: 0xffffffff },
    ];
    expect(rootQdisc(dump, 3)).toEqual({ index: 3, kind: "htb", parent: 0xffffffff });
    expect(rootQdisc(dump, 5)).toBeUndefined();
    expect(dump.map(isRootQdisc)).toEqual([false, true, false, true]);
  });

  it("computes psched ticks like iproute2", () => {
    expect(PSCHED.tickInUsec).toBe(15.625);
    expect(PSCHED.hz).toBe(1e9);
    // 64 KiB at 10 Mbit/s = 52428.8 µs, truncated to 52428 µs like iproute2, × 15.625 ticks/µs.
    expect(xmitTicks(1_250_000, 65536, PSCHED)).toBe(819187);
    // Values captured from `strace tc class add ... htb rate 25mbit ceil 50mbit burst 32k cburst 15k`.
    expect(xmitTicks(3_125_000, 32 * 1024, PSCHED)).toBe(163828);
    expect(xmitTicks(6_250_000, 15 * 1024, PSCHED)).toBe(38390);
    expect(xmitBytes(1_250_000, 819200, PSCHED)).toBe(65536);
    expect(() => xmitTicks(1, 1e6, PSCHED)).toThrow(RangeError);
  });

  it("adds clsact (golden)", () => {
    const r = qdiscRequest("add", 4, { kind: "clsact" }, PSCHED);
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(hex(r.payload)).toBe("00000000" + "04000000" + "0000ffff" + "f1ffffff" + "00000000" + "0b000100" + "636c736163740000");
  });

  it("encodes htb qdisc init and decodes it back", () => {
    const q = decodeQdisc(qdiscRequest("replace", 4, { kind: "htb", handle: "1:", defaultClass: 0x10, r2q: 5 }, PSCHED).payload);
    expect(q).toMatchObject({ kind: "htb", handle: 0x10000, parent: 0xffffffff, htb: { defaultClass: 0x10, r2q: 5 } });
  });

  it("encodes tbf with burst, limit from latency, and round-trips the rate", () => {
    const r = qdiscRequest("add", 4, { kind: "tbf", rate: 100e6, burst: 65536, latencyMs: 5 }, PSCHED);
    // Our request's ticks are truncated to whole µs like tc's; the kernel itself uses TCA_TBF_BURST (exact).
    const tbf = decodeQdisc(r.payload, PSCHED).tbf!;
    expect(tbf).toMatchObject({ rate: 100e6, limit: 62500 + 65536 });
    expect(Math.abs(tbf.burst - 65536)).toBeLessThanOrEqual(16);
    const o = decodeAttrs(tcBody.attrs, r.payload, 20).options as { burst: number };
    expect(o.burst).toBe(65536);
  });

  it("encodes htb classes, using RATE64/CEIL64 above 32-bit bytes/s", () => {
    const small = decodeClass(htbClassRequest("add", 4, { classid: "1:10", parent: "1:", rate: 10e6, ceil: 100e6, burst: 65536, prio: 2 }, PSCHED).payload, PSCHED);
    expect(small).toMatchObject({ handle: 0x10010, parent: 0x10000, htb: { rate: 10e6, ceil: 100e6, prio: 2, cburst: 1600 } });
    expect(Math.abs(small.htb!.burst - 65536)).toBeLessThanOrEqual(1);
    const r = htbClassRequest("add", 4, { classid: "1:20", parent: "1:1", rate: 50e9 }, PSCHED);
    const o = decodeAttrs(tcBody.attrs, r.payload, 20).options as { parms: { rate: { rate: number } }; rate64: number; ceil64: number };
    expect(o.parms.rate.rate).toBe(0xffffffff);
    expect(o.rate64).toBe(50e9 / 8);
    expect(o.ceil64).toBe(50e9 / 8);
    expect(decodeClass(r.payload, PSCHED).htb?.rate).toBe(50e9);
    expect(() => htbClassRequest("add", 4, { classid: "1:2", parent: "1:", rate: 0 })).toThrow(/positive/);
  });

  it("encodes a direct-action cls_bpf filter on clsact ingress", () => {
    const r = bpfFilterRequest("add", 2, { parent: "ingress", fd: 9, name: "shaper" });
    const { header } = decodeBody(tcBody, r.payload);
    expect(header).toMatchObject({ ifindex: 2, parent: 0xfffffff2, handle: 1, info: (1 << 16) | 0x0300 }); // htons(ETH_P_ALL)
    const f = decodeFilter(r.payload);
    expect(f).toMatchObject({ kind: "bpf", priority: 1, protocol: 3, handle: 1, bpf: { name: "shaper", directAction: true } });
    const o = decodeAttrs(tcBody.attrs, r.payload, 20).options;
    expect(o).toEqual({ fd: 9, name: "shaper", flags: 1 });
    const del = decodeBody(tcBody, deleteFilterRequest(2, { parent: "egress", priority: 3, handle: 1 }).payload);
    expect(del.header).toMatchObject({ parent: 0xfffffff3, info: (3 << 16) | 0x0300, handle: 1 });
    expect(del.attrs).toEqual({ kind: "bpf" });
  });

  it("encodes a classic cls_bpf filter with a mirred egress redirect action (golden action list)", () => {
    const r = bpfFilterRequest("replace", 2, { parent: "ingress", fd: 9, name: "classify_ingress", mirredRedirect: 5 });
    const act =
      "38000180" + // TCA_BPF_ACT (nested)
      "34000180" + // action order 1 (nested)
      "0b000100" + "6d69727265640000" + // TCA_ACT_KIND "mirred"
      "24000280" + // TCA_ACT_OPTIONS (nested)
      "20000200" + // TCA_MIRRED_PARMS: struct tc_mirred
      "00000000" + "00000000" + "04000000" + "00000000" + "00000000" + // index, capab, action TC_ACT_STOLEN, refcnt, bindcnt
      "01000000" + "05000000"; // eaction TCA_EGRESS_REDIR, ifindex 5
    expect(hex(r.payload)).toContain(act);
    const o = decodeAttrs(tcBody.attrs, r.payload, 20).options as Record<string, unknown>;
    expect(o.flags).toBeUndefined(); // not direct-action: the program's -1 runs the action
    expect(decodeFilter(r.payload).bpf).toEqual({ name: "classify_ingress", directAction: false, mirredRedirect: 5 });
  });

  it("puts a bare tc_fifo_qopt in TCA_OPTIONS for bfifo (golden)", () => {
    const r = qdiscRequest("replace", 4, { kind: "bfifo", limit: 65536, parent: "1:10" }, PSCHED);
    expect(hex(r.payload)).toBe("00000000" + "04000000" + "00000000" + "10000100" + "00000000" + "0a000100" + "626669666f000000" + "08000200" + "00000100");
    expect(decodeQdisc(r.payload).fifo).toEqual({ limit: 65536 });
  });

  it("decodes TCA_STATS2 counters", () => {
    const reply = encodeBody(tcBody, {
      header: { ifindex: 3, handle: 0x10000, parent: 0xffffffff },
      attrs: { kind: "htb", stats2: { basic: { bytes: 2 ** 33, packets: 7 }, queue: { drops: 4, overlimits: 5, qlen: 1, backlog: 100, requeues: 2 } } },
    });
    expect(decodeQdisc(reply).stats).toEqual({ bytes: 2 ** 33, packets: 7, drops: 4, overlimits: 5, requeues: 2, qlen: 1, backlog: 100 });
  });
});

describe("ip helpers", () => {
  it.each([
    ["10.0.0.2", "0a000002"],
    ["::", zeros(16)],
    ["fd00::2", "fd00" + zeros(12) + "0002"],
    ["::ffff:1.2.3.4", zeros(10) + "ffff01020304"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
  ])("parses %s", (s, h) => {
    expect(hex(parseIpBytes(s))).toBe(h);
  });

  it("formats IPv6 per RFC 5952", () => {
    expect(formatIpBytes(parseIpBytes("2001:db8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    expect(formatIpBytes(parseIpBytes("fd00:0:0:0:0:0:0:0"))).toBe("fd00::");
    expect(formatIpBytes(parseIpBytes("1:0:2:3:4:5:6:7"))).toBe("1:0:2:3:4:5:6:7");
  });

  it("computes networks and broadcasts", () => {
    expect(networkOf(parseCidr("10.1.2.3/12"))).toBe("10.0.0.0");
    expect(networkOf(parseCidr("fd00::1:2/112"))).toBe("fd00::1:0");
    expect(broadcastOf(parseCidr("10.1.2.3/12"))).toBe("10.15.255.255");
    expect(broadcastOf(parseCidr("10.1.2.3/31"))).toBeUndefined();
    expect(() => parseCidr("10.0.0.1/33")).toThrow(/prefix/);
    expect(() => parseCidr("10.0.0.1/2x")).toThrow(/prefix/);
  });
});
