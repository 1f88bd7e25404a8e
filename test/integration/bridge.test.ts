// The bridge plugin in real namespaces: a throwaway "node" namespace holds the bridge, further
// namespaces are containers. Every verb for every spec version, connectivity over IPv4 and IPv6,
// masquerading seen from an outside namespace, VLANs, hairpin/isolation, undo after failures.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { SUPPORTED_VERSIONS, atLeast } from "../../core/version";
import { isRoot, NsScope } from "../helpers/netns";
import { spoofChains, spoofKey } from "../../plugins/bridge/masq";
import { usingBuiltBinary } from "../helpers/plugin";
import { until } from "../helpers/wait";
import { addrs, binDirWith, conf, links, makeEnv, mustAdd, ping, routes, run } from "./bridge-helpers";

const scope = new NsScope();
afterEach(() => scope.cleanup());
const suite = isRoot() ? describe : describe.skip;

beforeAll(() => {
  if (!usingBuiltBinary()) console.warn("dist/tscni missing: run `npm run build` first (tests use wrapper scripts)");
});

suite("bridge: every verb for every cniVersion", () => {
  /** This version's config on a fresh node, and containers ADDed with it. */
  function setup(version: string, containers: string[]) {
    const env = makeEnv(scope);
    const c = conf(env, version, { isDefaultGateway: true });
    const ctrs = containers.map((id) => {
      const ns = scope.netns("c");
      return { id, ns, result: mustAdd(env, c, ns, id) };
    });
    return { env, c, ctrs };
  }
  const reservation = (env: { dataDir: string }, ip: string) => fs.existsSync(path.join(env.dataDir, "brtest", ip));

  describe.each(SUPPORTED_VERSIONS)("[%s]", (version) => {
    it("ADD returns the result in this version's shape", () => {
      const { ctrs } = setup(version, ["ctr-a"]);
      const { ns, result } = ctrs[0]!;
      if (atLeast(version, "0.3.0")) {
        expect(result.interfaces.map((i: any) => i.name)).toEqual(["tbr0", expect.stringMatching(/^veth[0-9a-f]{8}$/), "eth0"]);
        expect(result.interfaces[2].sandbox).toBe(ns.path);
        expect(result.ips.map((i: any) => [i.address, i.interface])).toEqual([["10.99.0.2/24", 2], ["fd99::2/64", 2]]);
      } else {
        expect([result.ip4.ip, result.ip6.ip]).toEqual(["10.99.0.2/24", "fd99::2/64"]);
      }
    });

    it("ADD sets addresses, default routes and forwarding; containers reach each other and the gateway", () => {
      const { env, ctrs } = setup(version, ["ctr-a", "ctr-b"]);
      const [a, b] = ctrs.map((x) => x.ns);
      expect(addrs(a!, "eth0")).toEqual(["10.99.0.2/24", "fd99::2/64"]);
      expect(addrs(env.node, "tbr0")).toEqual(["10.99.0.1/24", "fd99::1/64"]);
      expect(routes(a!).filter((r) => r.startsWith("default"))).toEqual(["default via 10.99.0.1", "default via fd99::1"]);
      for (const dst of ["10.99.0.2", "fd99::2", "10.99.0.1", "fd99::1"]) expect(ping(b!, dst), `b → ${dst}`).toBe(true);
      expect(env.node.run("cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout.trim()).toBe("1");
    });

    it.skipIf(!atLeast(version, "0.4.0"))("CHECK passes, and fails with 104 once an address is gone", () => {
      const { env, c, ctrs } = setup(version, ["ctr-a"]);
      const { ns, result } = ctrs[0]!;
      const ok = run(env, "CHECK", { ...c, prevResult: result }, ns, "ctr-a");
      expect(ok.code, ok.stdout).toBe(0);
      ns.ip("addr", "del", "10.99.0.2/24", "dev", "eth0");
      const bad = run(env, "CHECK", { ...c, prevResult: result }, ns, "ctr-a");
      expect([bad.code, bad.json.code]).toEqual([1, 104]);
    });

    it.skipIf(!atLeast(version, "1.1.0"))("STATUS succeeds", () => {
      const { env, c } = setup(version, []);
      expect(run(env, "STATUS", c, undefined, "").code).toBe(0);
    });

    it.skipIf(!atLeast(version, "1.1.0"))("GC releases the reservations of attachments not in the valid list", () => {
      const { env, c } = setup(version, ["ctr-a", "ctr-b"]);
      const gc = run(env, "GC", { ...c, "cni.dev/valid-attachments": [{ containerID: "ctr-b", ifname: "eth0" }] }, undefined, "");
      expect(gc.code, gc.stdout).toBe(0);
      expect([reservation(env, "10.99.0.2"), reservation(env, "10.99.0.3")]).toEqual([false, true]);
    });

    it("DEL removes the veths and the reservations; a second DEL succeeds", () => {
      const { env, c, ctrs } = setup(version, ["ctr-a", "ctr-b"]);
      for (const { ns, id } of ctrs) {
        expect(run(env, "DEL", c, ns, id).code).toBe(0);
        expect(run(env, "DEL", c, ns, id).code).toBe(0);
      }
      expect(links(env.node).filter((l) => l.ifname.startsWith("veth"))).toEqual([]);
      expect(fs.readdirSync(path.join(env.dataDir, "brtest")).filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes("."))).toEqual([]);
    });
  });
});

suite("bridge: DEL tolerates missing state", () => {
  it("succeeds when the namespace is gone or CNI_NETNS is empty", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.0.0");
    const a = scope.netns("ca");
    mustAdd(env, c, a, "gone");
    a.ip("link", "del", "eth0");
    expect(run(env, "DEL", c, a, "gone").code).toBe(0);
    expect(run(env, "DEL", c, { path: "/var/run/netns/does-not-exist" } as never, "gone").code).toBe(0);
    expect(run(env, "DEL", c, undefined, "gone").code).toBe(0);
  });

  it("refuses a CNI_NETNS that exists but is not a namespace (code 8), after releasing the address", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.0.0");
    const a = scope.netns("ca");
    mustAdd(env, c, a, "odd");
    const file = path.join(scope.tmpdir(), "not-a-netns");
    fs.writeFileSync(file, "");
    const del = run(env, "DEL", c, { path: file } as never, "odd");
    expect([del.code, del.json?.code, del.json?.msg]).toEqual([1, 8, `delete eth0: "${file}" is not a network namespace`]);
    expect(fs.existsSync(path.join(env.dataDir, "brtest", "10.99.0.2"))).toBe(false);
    expect(run(env, "DEL", c, a, "odd").code).toBe(0);
  });
});

/** An "outside" namespace behind the node: node 192.0.2.1/24 ⟷ outside 192.0.2.2/24. */
function outside(node: ReturnType<typeof scope.netns>) {
  const out = scope.netns("out");
  node.ip("link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", out.name);
  node.ip("addr", "add", "192.0.2.1/24", "dev", "up0");
  node.ip("link", "set", "up0", "up");
  out.ip("addr", "add", "192.0.2.2/24", "dev", "up1");
  out.ip("link", "set", "up1", "up");
  // Count what arrives by source address: the node's (masqueraded) or the container's.
  out.run("iptables", ["-A", "INPUT", "-s", "192.0.2.1", "-p", "icmp", "-m", "comment", "--comment", "from-node"]);
  out.run("iptables", ["-A", "INPUT", "-s", "10.99.0.0/24", "-p", "icmp", "-m", "comment", "--comment", "from-ctr"]);
  const counts = () => {
    const lines = out.run("iptables", ["-L", "INPUT", "-v", "-x", "-n"]).stdout.split("\n").filter((l) => /from-(node|ctr)/.test(l));
    return lines.map((l) => Number(l.trim().split(/\s+/)[0]));
  };
  return { out, counts };
}

suite("bridge: ipMasq", () => {
  for (const backend of ["iptables", "nftables"] as const) {
    it(`[${backend}] a container reaches an outside namespace with the node's address; DEL without netns removes the rules`, () => {
      const env = makeEnv(scope);
      const c = conf(env, "1.0.0", { isDefaultGateway: true, ipMasq: true, ipMasqBackend: backend });
      const { counts } = outside(env.node);
      const a = scope.netns("ca");
      mustAdd(env, c, a, "masq-a");
      expect(ping(a, "192.0.2.2")).toBe(true);
      expect(counts()).toEqual([1, 0]);
      const dump = () => env.node.run("sh", ["-c", "iptables-save -t nat; ip6tables-save -t nat; nft list ruleset"]).stdout;
      expect(dump()).toContain("masq-a");
      // Runtime lost the netns (plugins #810): the rules still go.
      expect(run(env, "DEL", c, undefined, "masq-a").code).toBe(0);
      expect(dump()).not.toContain("masq-a");
    });
  }

  it("GC removes the rules of attachments not in the valid list", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.1.0", { isDefaultGateway: true, ipMasq: true });
    const a = scope.netns("ca");
    const b = scope.netns("cb");
    mustAdd(env, c, a, "keep-me");
    mustAdd(env, c, b, "drop-me");
    const gc = run(env, "GC", { ...c, "cni.dev/valid-attachments": [{ containerID: "keep-me", ifname: "eth0" }] }, undefined, "");
    expect(gc.code, gc.stdout).toBe(0);
    const nat = env.node.run("iptables-save", ["-t", "nat"]).stdout;
    expect(nat).toContain("keep-me");
    expect(nat).not.toContain("drop-me");
  });
});

/** Debian's kernel here lacks CONFIG_BRIDGE_VLAN_FILTERING: probe once, skip VLAN tests without it. */
function vlanFilteringSupported(): boolean {
  const probe = scope.netns("vp");
  return probe.run("ip", ["link", "add", "vprobe", "type", "bridge", "vlan_filtering", "1"], { allowFail: true }).status === 0;
}

suite("bridge: VLANs, hairpin, isolation, MTU, MAC", () => {
  it("vlan on a kernel without bridge VLAN filtering is a clear error", (ctx) => {
    if (vlanFilteringSupported()) ctx.skip();
    const env = makeEnv(scope);
    const r = run(env, "ADD", conf(env, "1.0.0", { vlan: 100 }, {}), scope.netns("vx"), "vx");
    expect(r.code).toBe(1);
    expect(r.json.msg).toMatch(/VLAN filtering/);
    expect(links(env.node).filter((l) => l.ifname.startsWith("veth"))).toEqual([]);
  });

  it("vlan separates containers; the port is untagged PVID in its VLAN", (ctx) => {
    if (!vlanFilteringSupported()) ctx.skip();
    const env = makeEnv(scope);
    const ipam = (n: number) => ({ type: "host-local", dataDir: env.dataDir, ranges: [[{ subnet: "10.98.0.0/24", rangeStart: `10.98.0.${n}`, rangeEnd: `10.98.0.${n}` }]] });
    const mk = (vlan: number, n: number) => conf(env, "1.0.0", { vlan, preserveDefaultVlan: false }, { ...ipam(n) });
    const [a, b, c] = [scope.netns("va"), scope.netns("vb"), scope.netns("vc")];
    const ra = mustAdd(env, { ...mk(100, 10), name: "v1" }, a, "va");
    mustAdd(env, { ...mk(100, 11), name: "v2" }, b, "vb");
    mustAdd(env, { ...mk(200, 12), name: "v3" }, c, "vc");
    expect(ping(b, "10.98.0.10")).toBe(true);
    expect(ping(c, "10.98.0.10")).toBe(false);
    const vlans = JSON.parse(env.node.run("bridge", ["-j", "vlan", "show", "dev", ra.interfaces[1].name]).stdout);
    expect(vlans[0].vlans).toEqual([{ vlan: 100, flags: ["PVID", "Egress Untagged"] }]);
  });

  it("vlanTrunk adds tagged VLANs (ranges included); vlan 1 stays by default", (ctx) => {
    if (!vlanFilteringSupported()) ctx.skip();
    const env = makeEnv(scope);
    const a = scope.netns("ta");
    const r = mustAdd(env, conf(env, "1.0.0", { vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 202 }] }, {}), a, "trunk");
    const vlans = JSON.parse(env.node.run("bridge", ["-j", "vlan", "show", "dev", r.interfaces[1].name]).stdout)[0].vlans;
    expect(vlans.map((v: any) => v.vlan)).toEqual([1, 101, 200, 201, 202]);
  });

  it("hairpinMode, portIsolation, mtu and the MAC from runtimeConfig", () => {
    const env = makeEnv(scope);
    const a = scope.netns("ha");
    const c = conf(env, "1.0.0", { hairpinMode: true, portIsolation: true, mtu: 1400, runtimeConfig: { mac: "02:42:ac:11:00:09" } });
    const r = mustAdd(env, c, a, "hp");
    const port = links(env.node).find((l) => l.ifname === r.interfaces[1].name) as any;
    expect(port.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(port.linkinfo.info_slave_data.isolated).toBe(true);
    expect(port.mtu).toBe(1400);
    const eth0 = links(a).find((l) => l.ifname === "eth0")!;
    expect(eth0.mtu).toBe(1400);
    expect(eth0.address).toBe("02:42:ac:11:00:09");
    expect(r.interfaces[2].mac).toBe("02:42:ac:11:00:09");
  });

  it("macspoofchk drops frames with another source MAC; DEL removes the rules", () => {
    const env = makeEnv(scope);
    const [a, b] = [scope.netns("sa"), scope.netns("sb")];
    const c = conf(env, "1.0.0", { macspoofchk: true });
    mustAdd(env, c, a, "spoof-a");
    mustAdd(env, c, b, "spoof-b");
    expect(ping(b, "10.99.0.2")).toBe(true);
    a.ip("link", "set", "eth0", "address", "02:00:00:00:00:99");
    b.ip("neigh", "flush", "all");
    expect(ping(b, "10.99.0.2")).toBe(false);
    // Chains keyed by (network, ID, ifname) (masq.ts spoofKey), the readable names in the comment.
    const chain = spoofChains(spoofKey("brtest", "spoof-a", "eth0")).iface;
    expect(env.node.run("nft", ["list", "table", "bridge", "nat"]).stdout).toContain(`jump ${chain} comment "macspoofchk-${spoofKey("brtest", "spoof-a", "eth0")}, net: brtest, if: eth0, id: spoof-a"`);
    expect(run(env, "DEL", c, a, "spoof-a").code).toBe(0);
    expect(env.node.run("nft", ["list", "table", "bridge", "nat"]).stdout).not.toContain("spoof-a");
    expect(env.node.run("nft", ["list", "table", "bridge", "nat"]).stdout).not.toContain(chain);
  });

  it("L2 only: no IPAM, interface up; disableContainerInterface leaves it down", () => {
    const env = makeEnv(scope);
    const [a, b] = [scope.netns("la"), scope.netns("lb")];
    const r = mustAdd(env, conf(env, "1.0.0", {}, {}), a, "l2");
    expect(r.ips ?? []).toEqual([]);
    expect(links(a).find((l) => l.ifname === "eth0")!.operstate).toBe("UP");
    mustAdd(env, conf(env, "1.0.0", { disableContainerInterface: true }, null), b, "l2down");
    expect(links(b).find((l) => l.ifname === "eth0")!.operstate).toBe("DOWN");
  });
});

suite("bridge: failures undo everything", () => {
  it("IPAM failure removes the veth", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.0.0", {}, { type: "host-local", dataDir: env.dataDir, ranges: [[{ subnet: "10.97.0.0/30" }]] });
    mustAdd(env, c, scope.netns("fa"), "fa");
    const r = run(env, "ADD", c, scope.netns("fb"), "fb");
    expect(r.code).toBe(1);
    expect(r.json.msg).toMatch(/IPAM plugin "host-local" ADD/);
    expect(links(env.node).filter((l) => l.ifname.startsWith("veth"))).toHaveLength(1);
  });

  it("a failure after IPAM releases the address, removes the veth and the masquerade rules", () => {
    const env = makeEnv(scope);
    env.node.ip("link", "add", "tbr0", "type", "bridge");
    env.node.ip("addr", "add", "10.1.1.1/24", "dev", "tbr0");
    const c = conf(env, "1.0.0", { isGateway: true, ipMasq: true });
    const a = scope.netns("fc");
    const r = run(env, "ADD", c, a, "late-fail");
    expect(r.code).toBe(1);
    expect(r.json.msg).toMatch(/already has an IP address/);
    expect(links(env.node).filter((l) => l.ifname.startsWith("veth"))).toEqual([]);
    expect(links(a).map((l) => l.ifname)).toEqual(["lo"]);
    expect(fs.readdirSync(path.join(env.dataDir, "brtest")).filter((f) => f.startsWith("10.") || f.startsWith("fd"))).toEqual([]);
    expect(env.node.run("iptables-save", ["-t", "nat"]).stdout).not.toContain("late-fail");
  });

  it("bad configs are code 7 naming the field, before anything is created", () => {
    const env = makeEnv(scope);
    const a = scope.netns("cfg");
    const cases: [Record<string, unknown>, string][] = [
      [{ ipMasqBackend: "pf" }, "ipMasqBackend"],
      [{ vlan: 4095 }, "vlan"],
      [{ hairpinMode: true, promiscMode: true }, "hairpinMode"],
      [{ mtu: 10 }, "mtu"],
      [{ bridge: "b234567890123456" }, "bridge"],
    ];
    for (const [extra, fieldName] of cases) {
      const r = run(env, "ADD", conf(env, "1.0.0", extra), a, "cfg");
      expect(r.json?.code, JSON.stringify(extra)).toBe(7);
      expect(r.json.msg).toContain(`"${fieldName}"`);
    }
    expect(links(env.node).map((l) => l.ifname)).toEqual(["lo"]);
  });
});

suite("bridge: neighbours learn a reused address", () => {
  it("a peer's stale ARP and NDP entries point at the new MAC right after ADD", async () => {
    const env = makeEnv(scope, binDirWith(scope, ["static"]));
    const ipam = { type: "static", addresses: [{ address: "10.96.0.50/24" }, { address: "fd96::50/64" }] };
    const peerIpam = { type: "static", addresses: [{ address: "10.96.0.60/24" }, { address: "fd96::60/64" }] };
    const peer = scope.netns("np");
    mustAdd(env, conf(env, "1.0.0", {}, peerIpam), peer, "peer");
    const old = scope.netns("no");
    mustAdd(env, conf(env, "1.0.0", {}, ipam), old, "old");
    expect(ping(peer, "10.96.0.50")).toBe(true);
    expect(ping(peer, "fd96::50")).toBe(true);
    expect(run(env, "DEL", conf(env, "1.0.0", {}, ipam), old, "old").code).toBe(0);
    const fresh = scope.netns("nn");
    const r = mustAdd(env, conf(env, "1.0.0", {}, ipam), fresh, "new");
    const mac = r.interfaces[2].mac;
    const neigh = (ip: string) => JSON.parse(peer.ip("-j", "neigh", "show", ip))[0]?.lladdr;
    // The announcements ADD sent arrive within moments (nothing else would update the entries:
    // no traffic, and a stale entry is probed only when used).
    await until(() => neigh("10.96.0.50") === mac && neigh("fd96::50") === mac, "the peer's entries to point at the new MAC", 3_000).catch(() => {});
    expect(neigh("10.96.0.50")).toBe(mac);
    expect(neigh("fd96::50")).toBe(mac);
  });
});
