// The bridge with names a runtime may send (issue #11), with traffic: masquerading and the MAC
// spoof check keep working for a neighbour whose key nearly collides — concatenation twins
// ("ab", "c") / ("a", "bc"), a pod's two interfaces on one network, ("pod-x", "eth0") /
// ("pod", "x-eth0") — and long IDs or UTF-8 ifnames no longer make iptables-restore or nft refuse
// the rules. Each test in its own node namespace; the "outside" namespace behind the node counts
// what arrives from the node's address (masqueraded) and from container addresses (not).
import { afterEach, describe, expect, it } from "vitest";
import { iptComment, spoofChains, spoofKey } from "../../plugins/bridge/masq";
import { isRoot, type Netns, NsScope } from "../helpers/netns";
import { haveReference } from "../helpers/plugin";
import { binDirWith, conf, type Env, makeEnv, mustAdd, ping, run } from "./bridge-helpers";

const scope = new NsScope();
afterEach(() => scope.cleanup());
const suite = isRoot() ? describe : describe.skip;

/** Node 192.0.2.1/24 ⟷ outside 192.0.2.2/24; counts ICMP arriving from the node vs from containers. */
function outside(node: Netns) {
  const out = scope.netns("out");
  node.ip("link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", out.name);
  node.ip("addr", "add", "192.0.2.1/24", "dev", "up0");
  node.ip("link", "set", "up0", "up");
  out.ip("addr", "add", "192.0.2.2/24", "dev", "up1");
  out.ip("link", "set", "up1", "up");
  out.run("iptables", ["-A", "INPUT", "-s", "192.0.2.1", "-p", "icmp", "-m", "comment", "--comment", "from-node"]);
  out.run("iptables", ["-A", "INPUT", "-s", "10.0.0.0/8", "-p", "icmp", "-m", "comment", "--comment", "from-ctr"]);
  return () => {
    const lines = out.run("iptables", ["-L", "INPUT", "-v", "-x", "-n"]).stdout.split("\n").filter((l) => /from-(node|ctr)/.test(l));
    return lines.map((l) => Number(l.trim().split(/\s+/)[0]));
  };
}

/** A network of its own on its own bridge and subnet 10.91.<n>.0/24. */
const net = (env: Env, name: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ ...conf(env, "1.0.0", { isDefaultGateway: true, ipMasq: true, ipMasqBackend: "iptables", ...extra }, { type: "host-local", dataDir: env.dataDir, ranges: [[{ subnet: `10.91.${n}.0/24` }]] }), name, bridge: `tbr${n}` });

const nat = (env: Env) => env.node.run("sh", ["-c", "iptables-save -t nat; nft list ruleset"]).stdout;

suite("bridge names: masquerading", () => {
  it("concatenation twins (\"ab\", \"c\") / (\"a\", \"bc\") both masquerade, and keep doing so when the other goes", () => {
    const env = makeEnv(scope);
    const counts = outside(env.node);
    const [c1, c2] = [net(env, "ab", 1), net(env, "a", 2)];
    const [p1, p2] = [scope.netns("tw"), scope.netns("tw")];
    mustAdd(env, c1, p1, "c");
    mustAdd(env, c2, p2, "bc");
    expect([ping(p1, "192.0.2.2"), ping(p2, "192.0.2.2")]).toEqual([true, true]);
    expect(counts()).toEqual([2, 0]);
    expect(run(env, "DEL", c2, p2, "bc").code).toBe(0);
    expect(ping(p1, "192.0.2.2")).toBe(true);
    expect(counts()).toEqual([3, 0]);
    // And the other way round.
    mustAdd(env, c2, p2, "bc");
    expect(run(env, "DEL", c1, p1, "c").code).toBe(0);
    expect(ping(p2, "192.0.2.2")).toBe(true);
    expect(counts()).toEqual([4, 0]);
    expect(run(env, "DEL", c2, p2, "bc").code).toBe(0);
    expect(nat(env)).not.toContain("CNI-");
  });

  it("a pod's two interfaces on one network: ADD and DEL of eth1 leave eth0 masqueraded", () => {
    const env = makeEnv(scope);
    const counts = outside(env.node);
    const c = { ...net(env, "multi", 3), isDefaultGateway: false, isGateway: true };
    const pod = scope.netns("mp");
    mustAdd(env, c, pod, "pod1", { ifname: "eth0" });
    pod.ip("route", "add", "192.0.2.0/24", "via", "10.91.3.1", "dev", "eth0");
    expect(ping(pod, "192.0.2.2")).toBe(true);
    const r1 = mustAdd(env, c, pod, "pod1", { ifname: "eth1" });
    expect(ping(pod, "192.0.2.2")).toBe(true);
    expect(run(env, "DEL", { ...c, prevResult: r1 }, pod, "pod1", { ifname: "eth1" }).code).toBe(0);
    expect(ping(pod, "192.0.2.2")).toBe(true);
    expect(counts()).toEqual([3, 0]);
    expect(run(env, "DEL", c, pod, "pod1", { ifname: "eth0" }).code).toBe(0);
    expect(nat(env)).not.toContain("CNI-");
  });

  it("dual stack: a pod's two interfaces on one network keep their own IPv4 and IPv6 jumps", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.0.0", { isGateway: true, ipMasq: true, ipMasqBackend: "iptables" });
    const pod = scope.netns("ds");
    const r0 = mustAdd(env, c, pod, "dual", { ifname: "eth0" });
    const r1 = mustAdd(env, c, pod, "dual", { ifname: "eth1" });
    const sources = () =>
      env.node.run("sh", ["-c", "iptables-save -t nat; ip6tables-save -t nat"]).stdout.split("\n").filter((l) => l.startsWith("-A POSTROUTING")).map((l) => l.split(" ")[3]);
    const hosts = (r: any) => r.ips.map((i: any) => `${i.address.split("/")[0]}/${i.address.includes(":") ? 128 : 32}`);
    expect(sources().sort()).toEqual([...hosts(r0), ...hosts(r1)].sort());
    expect(run(env, "DEL", { ...c, prevResult: r0 }, pod, "dual", { ifname: "eth0" }).code).toBe(0);
    expect(sources().sort()).toEqual(hosts(r1).sort());
    expect(run(env, "DEL", { ...c, prevResult: r1 }, pod, "dual", { ifname: "eth1" }).code).toBe(0);
    expect(nat(env)).not.toContain("CNI-");
  });

  for (const backend of ["iptables", "nftables"] as const) {
    it(`[${backend}] a 2,048-character ID: ADD masquerades, GC and DEL remove the rules`, () => {
      const env = makeEnv(scope);
      const counts = outside(env.node);
      const id = `${"c0ffee.k8s_pod-".repeat(137)}`.slice(0, 2048);
      const c = { ...net(env, "long", 4, { ipMasqBackend: backend }), cniVersion: "1.1.0" };
      const pod = scope.netns("lp");
      mustAdd(env, c, pod, id);
      expect(ping(pod, "192.0.2.2")).toBe(true);
      expect(counts()).toEqual([1, 0]);
      // iptables keeps 255 bytes of a comment; that is what we write (iptables-restore refused the whole).
      if (backend === "iptables") expect(nat(env)).toContain(`--comment ${JSON.stringify(iptComment("long", id))} -j CNI-`);
      expect(run(env, "GC", { ...c, "cni.dev/valid-attachments": [{ containerID: id, ifname: "eth0" }] }, undefined, "").code).toBe(0);
      expect(nat(env)).toContain(id.slice(0, 60));
      expect(run(env, "GC", { ...c, "cni.dev/valid-attachments": [] }, undefined, "").code).toBe(0);
      expect(nat(env)).not.toContain(id.slice(0, 60));
      expect(nat(env)).not.toContain("CNI-");
      expect(run(env, "DEL", c, pod, id).code).toBe(0);
    });
  }

  it("[nftables] a UTF-8 ifname with a long ID: the comment is cut at 128 bytes, not characters", () => {
    const env = makeEnv(scope);
    const counts = outside(env.node);
    const c = net(env, "utf", 5, { ipMasqBackend: "nftables" });
    const pod = scope.netns("up");
    const id = "long-id.".repeat(40);
    mustAdd(env, c, pod, id, { ifname: "ethé" });
    expect(ping(pod, "192.0.2.2")).toBe(true);
    expect(counts()).toEqual([1, 0]);
    expect(nat(env)).toContain("if: ethé, id: long-id.");
    expect(run(env, "DEL", c, pod, id, { ifname: "ethé" }).code).toBe(0);
    expect(nat(env)).not.toContain("if: ethé");
  });

  it("GC of one of two networks whose names iptables cuts to the same comment leaves the other's rules", () => {
    const env = makeEnv(scope);
    const [n1, n2] = [`${"w".repeat(299)}1`, `${"w".repeat(299)}2`];
    const [c1, c2]: Record<string, unknown>[] = [{ ...net(env, n1, 6), cniVersion: "1.1.0" }, { ...net(env, n2, 7), cniVersion: "1.1.0" }];
    c1!.ipam = { type: "static", addresses: [{ address: "10.91.6.10/24" }] };
    c2!.ipam = { type: "static", addresses: [{ address: "10.91.7.10/24" }] };
    const env2 = { ...env, binDir: binDirWith(scope, ["static"]) };
    const [p1, p2] = [scope.netns("gw"), scope.netns("gw")];
    mustAdd(env2, { ...c1!, cniVersion: "1.0.0" }, p1, "x");
    mustAdd(env2, { ...c2!, cniVersion: "1.0.0" }, p2, "x");
    const jumps = () => nat(env).split("\n").filter((l) => l.startsWith("-A POSTROUTING"));
    expect(jumps().map((l) => l.split(" ")[3])).toEqual(["10.91.6.10/32", "10.91.7.10/32"]);
    // GC without the (reference, 1.0.0-only) static IPAM.
    const gc = (c: Record<string, unknown>) => run(env2, "GC", { ...c, ipam: {}, "cni.dev/valid-attachments": [] }, undefined, "");
    expect(gc(c1!).code).toBe(0);
    expect(jumps().map((l) => l.split(" ")[3])).toEqual(["10.91.7.10/32"]);
    expect(gc(c2!).code).toBe(0);
    expect(nat(env)).not.toContain("CNI-");
    for (const [c, p] of [[c1!, p1], [c2!, p2]] as const) expect(run(env2, "DEL", { ...c, cniVersion: "1.0.0" }, p, "x").code).toBe(0);
  });
});

suite("bridge names: MAC spoof check", () => {
  const spoof = (env: Env) => env.node.run("nft", ["list", "table", "bridge", "nat"], { allowFail: true }).stdout;

  it('("pod-x", "eth0") and ("pod", "x-eth0") each keep their own check, also when the other goes', () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.1.0", { isGateway: true, macspoofchk: true });
    const [a, b] = [scope.netns("sa"), scope.netns("sb")];
    mustAdd(env, c, a, "pod-x", { ifname: "eth0" });
    mustAdd(env, c, b, "pod", { ifname: "x-eth0" });
    // With one shared chain, b's ADD accepted only b's MAC and dropped everything a sent.
    expect([ping(a, "10.99.0.1"), ping(b, "10.99.0.1"), ping(a, "10.99.0.3")]).toEqual([true, true, true]);
    expect(run(env, "DEL", c, b, "pod", { ifname: "x-eth0" }).code).toBe(0);
    expect(ping(a, "10.99.0.1")).toBe(true);
    // a's check is still there: another source MAC is dropped.
    a.ip("link", "set", "eth0", "address", "02:00:00:00:00:99");
    a.ip("neigh", "flush", "all");
    expect(ping(a, "10.99.0.1")).toBe(false);
    expect(run(env, "DEL", c, a, "pod-x", { ifname: "eth0" }).code).toBe(0);
    expect(spoof(env)).not.toContain("cni-br-iface");
  });

  it("the same ID and ifname on two networks, a 2,048-character ID and a UTF-8 ifname; GC removes exactly the invalid ones", () => {
    const env = makeEnv(scope);
    const n = conf(env, "1.1.0", { isGateway: true, macspoofchk: true });
    const m = { ...conf(env, "1.1.0", { isGateway: true, macspoofchk: true }, { type: "host-local", dataDir: env.dataDir, ranges: [[{ subnet: "10.91.8.0/24" }]] }), name: "brtest.2", bridge: "tbr8" };
    const long = "c".repeat(2048);
    const atts = [
      { c: n, net: "brtest", id: "same", ifname: "eth0" },
      { c: m, net: "brtest.2", id: "same", ifname: "eth0" },
      { c: n, net: "brtest", id: long, ifname: "ééééééé0" },
    ];
    const pods = atts.map((x) => {
      const p = scope.netns("sg");
      mustAdd(env, x.c, p, x.id, { ifname: x.ifname });
      return p;
    });
    const chainOf = (x: (typeof atts)[number]) => spoofChains(spoofKey(x.net, x.id, x.ifname)).iface;
    for (const x of atts) expect(spoof(env)).toContain(`chain ${chainOf(x)} {`);
    expect(ping(pods[0]!, "10.99.0.1")).toBe(true);
    expect(ping(pods[1]!, "10.91.8.1")).toBe(true);
    // GC of "brtest" keeping only the long one: ("same", "eth0") of brtest goes, brtest.2's stays.
    const gc = run(env, "GC", { ...n, "cni.dev/valid-attachments": [{ containerID: long, ifname: "ééééééé0" }] }, undefined, "");
    expect(gc.code, gc.stdout).toBe(0);
    expect(atts.map((x) => spoof(env).includes(`chain ${chainOf(x)} {`))).toEqual([false, true, true]);
    expect(ping(pods[1]!, "10.91.8.1")).toBe(true);
    atts.forEach((x, i) => expect(run(env, "DEL", x.c, pods[i], x.id, { ifname: x.ifname }).code).toBe(0));
    expect(spoof(env)).not.toContain("cni-br-iface");
  });

  it.skipIf(!haveReference("bridge"))("DEL removes the check the reference made (a node moving from it to us)", () => {
    const env = makeEnv(scope);
    const c = conf(env, "1.0.0", { isGateway: true, macspoofchk: true });
    const ref = { ...env, binDir: binDirWith(scope, [], "reference", "reference") };
    const p = scope.netns("rp");
    mustAdd(ref, c, p, "0123abcd");
    expect(spoof(env)).toContain("chain cni-br-iface-0123abcd-eth0 {");
    expect(run(env, "DEL", c, p, "0123abcd").code).toBe(0);
    expect(spoof(env)).not.toContain("cni-br-iface");
    expect(spoof(env)).not.toContain("macspoofchk");
  });
});
