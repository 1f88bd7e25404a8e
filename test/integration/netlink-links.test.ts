// rtnetlink against the real kernel, only inside throwaway namespaces: links (bridge, veth with
// the peer created in another namespace), addresses, routes, neighbours, bridge ports, errors.
// `ip -j` is the independent witness for what we read back.
import * as fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Rtnl, isNetlinkError, type NetlinkError } from "../../kernel/netlink";
import { type Netns, NsScope } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

function open(ns: Netns): Rtnl {
  const nl = Rtnl.open(ns.path);
  scope.onCleanup(() => nl.close());
  return nl;
}

const ipJson = <T = Record<string, unknown>>(ns: Netns, ...args: string[]): T[] => JSON.parse(ns.ip("-j", ...args)) as T[];

function expectNetlinkError(fn: () => unknown, code: string): NetlinkError {
  try {
    fn();
  } catch (e) {
    expect(isNetlinkError(e, code), String(e)).toBe(true);
    return e as NetlinkError;
  }
  throw new Error(`expected ${code}`);
}

/** A node namespace with bridge br0 and `n` containers attached, each with eth0 created directly inside. */
function bridgeWithContainers(n: number) {
  const node = scope.netns("nd");
  const nl = open(node);
  const br = nl.addBridge({ name: "br0", mtu: 1400 });
  nl.setUp("br0");
  nl.addAddr("br0", "10.0.0.1/24");
  nl.addAddr("br0", "fd00::1/64", { nodad: true });
  const containers = Array.from({ length: n }, (_, i) => {
    const ns = scope.netns(`c${i}`);
    const host = nl.addVeth({
      name: `veth${i}`, mtu: 1400,
      peer: { name: "eth0", netns: ns.path, mtu: 1400, mac: `02:00:00:00:00:0${i + 2}` },
    });
    nl.setLink(host.index, { master: "br0", up: true });
    const c = open(ns);
    c.setUp("eth0");
    c.addAddr("eth0", `10.0.0.${i + 2}/24`);
    c.addAddr("eth0", `fd00::${i + 2}/64`, { nodad: true });
    c.addRoute({ dst: "0.0.0.0/0", gw: "10.0.0.1" });
    c.addRoute({ dst: "::/0", gw: "fd00::1" });
    return { ns, nl: c, host };
  });
  return { node, nl, br, containers };
}

describe("links", () => {
  it("builds a bridge with veths whose peers are created in container namespaces, and pings across", () => {
    const { node, nl, br, containers } = bridgeWithContainers(2);
    const [c0, c1] = containers;

    expect(br).toMatchObject({ name: "br0", kind: "bridge", mtu: 1400, vlanFiltering: false });
    const host0 = nl.getLink("veth0");
    expect(host0).toMatchObject({ kind: "veth", master: br.index, mtu: 1400, up: true });
    const eth0 = c0.nl.getLink("eth0");
    expect(eth0).toMatchObject({ name: "eth0", kind: "veth", mtu: 1400, mac: "02:00:00:00:00:02", up: true });
    // Each end names the other: peer index plus the peer namespace's id.
    expect(host0.link).toBe(eth0.index);
    expect(eth0.link).toBe(host0.index);
    expect(host0.linkNetnsid).toBeTypeOf("number");
    expect(nl.listLinks().map((l) => l.name).sort()).toEqual(["br0", "lo", "veth0", "veth1"]);

    const [j] = ipJson<{ master: string; mtu: number; link_netnsid: number }>(node, "-d", "link", "show", "veth0");
    expect(j).toMatchObject({ master: "br0", mtu: 1400, link_netnsid: host0.linkNetnsid });

    // Addresses read back
    expect(nl.listAddrs({ link: "br0", family: 4 }).map((a) => [a.cidr, a.broadcast])).toEqual([["10.0.0.1/24", "10.0.0.255"]]);
    const v6 = c0.nl.listAddrs({ link: "eth0", family: 6 }).find((a) => a.address === "fd00::2");
    expect(v6).toMatchObject({ prefixLen: 64, tentative: false, permanent: true });

    // Routes read back (main table by default)
    const routes = c0.nl.listRoutes({ family: 4 });
    expect(routes.find((r) => r.dst === "0.0.0.0/0")).toMatchObject({ gw: "10.0.0.1", oif: eth0.index, table: 254, type: "unicast" });
    expect(routes.find((r) => r.dst === "10.0.0.0/24")).toMatchObject({ scope: 253, src: "10.0.0.2", protocol: 2 });
    expect(c0.nl.listRoutes({ family: 6 }).find((r) => r.dst === "::/0")).toMatchObject({ gw: "fd00::1" });

    c0.ns.run("ping", ["-c1", "-W2", "10.0.0.3"]);
    c0.ns.run("ping", ["-c1", "-W2", "10.0.0.1"]);
    c1.ns.run("ping", ["-6", "-c1", "-W2", "fd00::2"]);
  });

  it("moves, renames, changes MTU/MAC/promisc/alias, detaches and deletes", () => {
    const a = scope.netns("ma");
    const b = scope.netns("mb");
    const nl = open(a);
    const v = nl.addVeth({ name: "va", peer: { name: "vb" } });
    nl.setLink("va", { mtu: 9000, mac: "02:aa:00:00:00:01", promisc: true, alias: "pod x" });
    expect(nl.getLink(v.index)).toMatchObject({ mtu: 9000, mac: "02:aa:00:00:00:01", promisc: true, alias: "pod x" });
    nl.setName("va", "va2");
    expect(nl.getLink(v.index).name).toBe("va2");

    nl.moveToNetns("vb", b.path);
    expect(nl.findLink("vb")).toBeUndefined();
    const nb = open(b);
    expect(nb.getLink("vb")).toMatchObject({ kind: "veth", link: v.index });

    nl.addBridge({ name: "brx" });
    nl.setMaster("va2", "brx");
    expect(nl.getLink("va2").master).toBe(nl.linkIndex("brx"));
    nl.setMaster("va2", null);
    expect(nl.getLink("va2").master).toBeUndefined();

    nl.deleteLink("va2");
    expect(nl.findLink(v.index)).toBeUndefined();
    // Deleting one end removes the peer in the other namespace too.
    expect(nb.findLink("vb")).toBeUndefined();
  });

  it("creates both veth ends in other namespaces from a third one (path and fd)", () => {
    const [n0, n1, n2] = [scope.netns("x0"), scope.netns("x1"), scope.netns("x2")];
    const fd = fs.openSync(n2.path, "r");
    try {
      const a = Rtnl.with(n0.path, (nl) => nl.addVeth({ name: "left", netns: n1.path, peer: { name: "right", netns: fd } }));
      expect(a).toMatchObject({ name: "left", kind: "veth" });
      expect(Rtnl.with(n0.path, (nl) => nl.findLink("left"))).toBeUndefined();
      expect(Rtnl.with(n2.path, (nl) => nl.getLink("right")).link).toBe(a.index);
    } finally {
      fs.closeSync(fd);
    }
  });

  it("creates ifb devices (and dummy/vlan where the kernel has them)", () => {
    const a = scope.netns("ifb");
    const nl = open(a);
    expect(nl.addIfb({ name: "ifb0", txqlen: 100 })).toMatchObject({ kind: "ifb", txqlen: 100 });
    for (const create of [() => nl.addDummy({ name: "dm0" }), () => nl.addVlan({ name: "ifb0.5", parent: "ifb0", id: 5 })]) {
      try {
        const l = create();
        expect(l.kind === "dummy" || l.vlanId === 5).toBe(true);
      } catch (e) {
        // This test VM's kernel has no dummy or 8021q driver: the kernel says so precisely.
        expect(e).toMatchObject({ code: "EOPNOTSUPP", extack: "Unknown device type" });
      }
    }
  });

  it("sets bridge port hairpin, isolated and learning and reads them back", () => {
    const { nl, node } = bridgeWithContainers(1);
    nl.setBridgePort("veth0", { hairpin: true, isolated: true, learning: false });
    expect(nl.getLink("veth0").bridgePort).toMatchObject({ hairpin: true, isolated: true, learning: false });
    const port = nl.listBridgeLinks().find((b) => b.name === "veth0");
    expect(port?.port).toMatchObject({ hairpin: true, isolated: true, learning: false });
    const [j] = ipJson<{ linkinfo: { info_slave_data: { hairpin: boolean; isolated: boolean; learning: boolean } } }>(node, "-d", "link", "show", "veth0");
    expect(j.linkinfo.info_slave_data).toMatchObject({ hairpin: true, isolated: true, learning: false });
    nl.setBridgePort("veth0", { hairpin: false });
    expect(nl.getLink("veth0").bridgePort).toMatchObject({ hairpin: false, isolated: true });
  });
});

describe("errors", () => {
  it("carries errno, code, op and the kernel's extack text", () => {
    const { nl, containers } = bridgeWithContainers(1);
    const dup = expectNetlinkError(() => nl.addBridge({ name: "br0" }), "EEXIST");
    expect(dup).toMatchObject({ errno: 17, op: "RTM_NEWLINK", target: "br0" });
    expect(dup.message).toMatch(/^RTM_NEWLINK br0: File exists/);

    const missing = expectNetlinkError(() => nl.getLink("nosuchdev"), "ENODEV");
    expect(missing).toMatchObject({ errno: 19, op: "RTM_GETLINK" });
    expectNetlinkError(() => nl.deleteLink(99999), "ENODEV");
    expectNetlinkError(() => nl.setMaster("veth0", "nosuchbr"), "ENODEV");

    const addr = expectNetlinkError(() => nl.addAddr("br0", "10.0.0.1/24"), "EEXIST");
    expect(addr.extack).toMatch(/already/i);
    expect(addr.message).toContain(`(${addr.extack})`);

    const route = expectNetlinkError(() => containers[0].nl.addRoute({ dst: "10.9.0.0/16", gw: "10.99.0.1" }), "ENETUNREACH");
    expect(route.extack).toMatch(/gateway/i);
    expectNetlinkError(() => containers[0].nl.addRoute({ dst: "0.0.0.0/0", gw: "10.0.0.1" }), "EEXIST");
    expectNetlinkError(() => nl.deleteAddr("br0", "10.0.0.99/24"), "EADDRNOTAVAIL");
  });
});

describe("routes and neighbours", () => {
  it("adds, replaces and deletes routes with metrics, priority, source and tables", () => {
    const { containers } = bridgeWithContainers(1);
    const [{ nl, ns }] = containers;
    nl.addRoute({ dst: "10.9.0.0/16", gw: "10.0.0.1", priority: 50, mtu: 1300, advmss: 1260, src: "10.0.0.2" });
    nl.addRoute({ dst: "10.8.0.1/32", oif: "eth0" }); // no gateway: scope link
    nl.addRoute({ dst: "10.7.0.0/16", gw: "10.0.0.1", table: 100 });
    nl.addRoute({ dst: "fd01::/48", gw: "fd00::1", mtu: 1280 });
    nl.addRoute({ dst: "10.6.0.0/16", type: "blackhole" });

    const main = nl.listRoutes({ family: 4 });
    expect(main.find((r) => r.dst === "10.9.0.0/16")).toMatchObject({ gw: "10.0.0.1", priority: 50, mtu: 1300, advmss: 1260, src: "10.0.0.2", protocol: 3 });
    expect(main.find((r) => r.dst === "10.8.0.1/32")).toMatchObject({ scope: 253, oif: nl.linkIndex("eth0") });
    expect(main.find((r) => r.dst === "10.6.0.0/16")).toMatchObject({ type: "blackhole" });
    expect(main.find((r) => r.dst === "10.7.0.0/16")).toBeUndefined();
    expect(nl.listRoutes({ table: 100 })).toEqual([expect.objectContaining({ dst: "10.7.0.0/16", table: 100 })]);
    expect(nl.listRoutes({ family: 6 }).find((r) => r.dst === "fd01::/48")).toMatchObject({ gw: "fd00::1", mtu: 1280 });
    expect(ns.ip("route", "show", "10.9.0.0/16")).toMatch(/via 10\.0\.0\.1 dev eth0 .*src 10\.0\.0\.2 metric 50 mtu 1300 advmss 1260/);

    nl.replaceRoute({ dst: "10.9.0.0/16", gw: "10.0.0.1", priority: 50, mtu: 1200 });
    expect(nl.listRoutes().filter((r) => r.dst === "10.9.0.0/16")).toEqual([expect.objectContaining({ mtu: 1200 })]);

    nl.deleteRoute({ dst: "10.9.0.0/16", priority: 50 });
    nl.deleteRoute({ dst: "10.7.0.0/16", table: 100 });
    nl.deleteRoute({ dst: "fd01::/48" });
    nl.deleteRoute({ dst: "0.0.0.0/0" });
    const left = nl.listRoutes({ table: 0 }).map((r) => r.dst);
    expect(left).not.toContain("10.9.0.0/16");
    expect(left).not.toContain("10.7.0.0/16");
    expect(left).not.toContain("fd01::/48");
    expect(left).not.toContain("0.0.0.0/0");
    expectNetlinkError(() => nl.deleteRoute({ dst: "10.9.0.0/16" }), "ESRCH");
  });

  it("sends a gratuitous ARP for an own address (NTF_USE) that updates a peer's stale entry", () => {
    const { containers } = bridgeWithContainers(2);
    const [c0, c1] = containers;
    c1.nl.addNeigh("eth0", { ip: "10.0.0.2", mac: "02:00:00:00:00:99", state: "stale" });
    c0.nl.resolveNeigh("eth0", "10.0.0.2");
    let entry;
    for (let i = 0; i < 50 && entry?.mac !== "02:00:00:00:00:02"; i++) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      entry = c1.nl.listNeighs({ link: "eth0", family: 4 }).find((n) => n.ip === "10.0.0.2");
    }
    expect(entry?.mac).toBe("02:00:00:00:00:02");
  });

  it("adds, lists and deletes static neighbours", () => {
    const { containers } = bridgeWithContainers(1);
    const [{ nl, ns }] = containers;
    nl.addNeigh("eth0", { ip: "10.0.0.50", mac: "02:00:00:00:00:50" });
    nl.addNeigh("eth0", { ip: "fd00::50", mac: "02:00:00:00:00:51", state: "reachable" });
    nl.addNeigh("eth0", { ip: "10.0.0.50", mac: "02:00:00:00:00:52" }); // replace
    const list = nl.listNeighs({ link: "eth0" });
    expect(list.find((n) => n.ip === "10.0.0.50")).toMatchObject({ mac: "02:00:00:00:00:52", states: ["permanent"], family: 4 });
    expect(list.find((n) => n.ip === "fd00::50")).toMatchObject({ mac: "02:00:00:00:00:51", family: 6 });
    expect(ns.ip("neigh", "show", "10.0.0.50")).toContain("lladdr 02:00:00:00:00:52 PERMANENT");
    expectNetlinkError(() => nl.addNeigh("eth0", { ip: "10.0.0.50", mac: "02:00:00:00:00:53", replace: false }), "EEXIST");
    nl.deleteNeigh("eth0", "10.0.0.50");
    expect(nl.listNeighs({ family: 4 }).find((n) => n.ip === "10.0.0.50")).toBeUndefined();
    expectNetlinkError(() => nl.deleteNeigh("eth0", "10.0.0.50"), "ENOENT");
  });
});

describe("bridge VLANs", () => {
  it("adds PVID/untagged VLANs and ranges on a port and dumps them (skips without CONFIG_BRIDGE_VLAN_FILTERING)", (ctx) => {
    const node = scope.netns("vl");
    const nl = open(node);
    try {
      nl.addBridge({ name: "brv", vlanFiltering: true, defaultPvid: 0 });
    } catch (e) {
      if (isNetlinkError(e, "EOPNOTSUPP")) return ctx.skip();
      throw e;
    }
    expect(nl.getLink("brv")).toMatchObject({ vlanFiltering: true, defaultPvid: 0 });
    nl.addVeth({ name: "vp", peer: { name: "vq" } });
    nl.setMaster("vp", "brv");
    nl.addBridgeVlan("vp", { vid: 100, pvid: true, untagged: true });
    nl.addBridgeVlan("vp", { vid: 200, vidEnd: 203 });
    nl.addBridgeVlan("brv", { vid: 100, self: true });
    expect(nl.listBridgeVlans("vp")).toEqual([
      { vid: 100, pvid: true, untagged: true },
      ...[200, 201, 202, 203].map((vid) => ({ vid, pvid: false, untagged: false })),
    ]);
    expect(nl.listBridgeVlans("brv").map((v) => v.vid)).toContain(100);
    nl.deleteBridgeVlan("vp", { vid: 200, vidEnd: 203 });
    expect(nl.listBridgeVlans("vp").map((v) => v.vid)).toEqual([100]);
  });
});
