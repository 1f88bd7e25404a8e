// ebpf-bandwidth and retransmits (issue 18). The container interface's GSO limit
// (plugins/ebpf-bandwidth/gso.ts): ADD lowers it to about a millisecond of the egress cap, CHECK
// verifies it, a failed ADD restores it, DEL leaves it (the interface goes with the pod); with it a
// shaped TCP flow from the container holds the cap without the retransmits whole dropped 64 KiB
// packets used to cause (77-3,916 segments per 5 s at 100 Mbit/s before). Towards the container,
// whose senders' packets nothing on the pod's side sizes, classify's ECN marks make an
// ECN-capable flow back off before the leaf drops. Real namespaces, real iperf3 flows.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { delNetworkList } from "../../demo/chain";
import { readShapingStats } from "../../kernel/bpf/shaping";
import * as path from "node:path";
import { NsScope, isRoot, type Netns } from "../helpers/netns";
import { DIST_BIN, haveReference } from "../helpers/plugin";
import { type Topo, hostVeth, iperf, pinsUnder, tc, topology, runBandwidth as run } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && haveReference("bridge") && spawnSync("iperf3", ["-v"]).status === 0 && spawnSync("nstat", ["-V"]).status === 0;
const scope = new NsScope();
afterEach(() => scope.cleanup());

const MBIT = 1_000_000;
const caps = (mbit: number) => ({ ingressRate: mbit * MBIT, ingressBurst: 524_288, egressRate: mbit * MBIT, egressBurst: 524_288 });
const withPrev = (t: Topo, i: number, limits: Record<string, unknown>) => ({ ...limits, prevResult: t.ctrs[i]!.result });

/** The GSO limits of a container's eth0, as `ip -d` reports them. */
function gso(ns: Netns): { size: number; segs: number } {
  const l = (JSON.parse(ns.ip("-d", "-j", "link", "show", "eth0")) as { gso_max_size: number; gso_max_segs: number }[])[0]!;
  return { size: l.gso_max_size, segs: l.gso_max_segs };
}
const DEFAULT = { size: 65_536, segs: 65_535 };

/** TCP segments the kernel retransmitted in a namespace so far. */
const retransSegs = (ns: Netns) => Number(/TcpRetransSegs\s+(\d+)/.exec(ns.run("nstat", ["-asz", "TcpRetransSegs"]).stdout)?.[1] ?? NaN);

describe.skipIf(!canRun)("ebpf-bandwidth retransmits: the container's GSO limit, ECN marks", () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: the tests drive dist/tscni");
  });

  it("ADD sets about 1 ms of the egress cap on the container's eth0; CHECK verifies it; DEL leaves it, the chain's DEL removes the interface", () => {
    const t = topology(scope, { bridge: "reference", caps: caps(100) });
    expect(gso(t.ctrs[0]!.ns)).toEqual({ size: 12_500, segs: 8 }); // 100 Mbit/s = 12.5 kB per ms: 8 segments
    expect(gso(t.ctrs[1]!.ns)).toEqual(DEFAULT); // the unshaped container keeps the kernel's default

    expect(run(t, "CHECK", withPrev(t, 0, caps(100)), 0).code).toBe(0);
    // Someone raises it again: CHECK says so (104), naming the limit.
    t.ctrs[0]!.ns.ip("link", "set", "eth0", "gso_max_size", "65536");
    const r = run(t, "CHECK", withPrev(t, 0, caps(100)), 0);
    expect(r.json).toMatchObject({ code: 104, msg: "ebpf-bandwidth: the GSO limit of eth0 in the container is above the shaped rate's" });
    expect(String(r.json.details)).toContain("gso_max_size 65536, want at most 12500");
    // A retried ADD sets it again.
    expect(run(t, "ADD", withPrev(t, 0, caps(100)), 0).code).toBe(0);
    expect(gso(t.ctrs[0]!.ns)).toEqual({ size: 12_500, segs: 8 });

    // DEL of ours alone: the pins go, the interface keeps the limit (documented: it is the
    // container's and goes with it); a second DEL and a DEL without the namespace succeed too.
    expect(run(t, "DEL", withPrev(t, 0, caps(100)), 0).code).toBe(0);
    expect(pinsUnder(t.pinRoot)).toEqual([]);
    expect(gso(t.ctrs[0]!.ns)).toEqual({ size: 12_500, segs: 8 });
    expect(run(t, "DEL", withPrev(t, 0, caps(100)), 0).code).toBe(0);
    const c = t.ctrs[0]!;
    delNetworkList({ binDir: t.binDir, nodeNetns: t.node.name }, t.list, { containerID: c.id, netns: c.ns.path, ifname: "eth0", capabilityArgs: { bandwidth: caps(100) } }, c.result);
    expect(c.ns.run("ip", ["link", "show", "eth0"], { allowFail: true }).status).not.toBe(0);
  });

  it("changes nothing where the limit would not be lower: ingress-only, 1 Gbit/s (64 KiB already), a smaller limit set by someone else, police mode", () => {
    const t = topology(scope, { bridge: "reference", n: 4 });
    const [a, b, c, d] = t.ctrs;
    expect(run(t, "ADD", withPrev(t, 0, { ingressRate: 100 * MBIT, ingressBurst: 524_288 }), 0).code).toBe(0);
    expect(gso(a!.ns)).toEqual(DEFAULT);
    expect(run(t, "ADD", withPrev(t, 1, caps(1000)), 1).code).toBe(0);
    expect(gso(b!.ns)).toEqual(DEFAULT);
    c!.ns.ip("link", "set", "eth0", "gso_max_size", "8000", "gso_max_segs", "4");
    expect(run(t, "ADD", withPrev(t, 2, caps(100)), 2).code).toBe(0);
    expect(gso(c!.ns)).toEqual({ size: 8_000, segs: 4 }); // never raised
    expect(run(t, "CHECK", withPrev(t, 2, caps(100)), 2).code).toBe(0);
    expect(run(t, "ADD", withPrev(t, 3, { ...caps(100), mode: "police" }), 3).code).toBe(0);
    expect(gso(d!.ns)).toEqual(DEFAULT);
    for (const [i, limits] of [[0, { ingressRate: 100 * MBIT, ingressBurst: 524_288 }], [1, caps(1000)], [2, caps(100)], [3, { ...caps(100), mode: "police" }]] as const) {
      expect(run(t, "DEL", withPrev(t, i, limits), i).code).toBe(0);
    }
  });

  it("a failed ADD restores the limits it lowered (code 105: another tool's root qdisc on the host veth)", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const veth = hostVeth(t, 0);
    t.ctrs[0]!.ns.ip("link", "set", "eth0", "gso_max_size", "40000");
    tc(t.node, "qdisc", "add", "dev", veth, "root", "handle", "1:", "htb");
    const r = run(t, "ADD", withPrev(t, 0, caps(100)), 0);
    expect(r.json).toMatchObject({ code: 105 });
    expect(gso(t.ctrs[0]!.ns)).toEqual({ size: 40_000, segs: 65_535 });
    expect(pinsUnder(t.pinRoot)).toEqual([]);
  });

  it("a 2 s cubic flow from the container at a 100 Mbit/s cap holds the cap and retransmits (almost) nothing", async () => {
    const t = topology(scope, { bridge: "reference", caps: caps(100) });
    const sender = t.ctrs[0]!.ns;
    const before = retransSegs(sender);
    const up = await iperf(sender, t.ctrs[1]!, 2, false, "cubic");
    const retrans = retransSegs(sender) - before;
    expect(up.mbps).toBeGreaterThan(85);
    expect(up.mbps).toBeLessThan(100.5);
    // Before the GSO limit one 64 KiB packet dropped at the leaf cost 45 segments, and a 5 s flow
    // lost 10-100 of them. Now packets are 8 segments and TSQ keeps each flow to about two of them
    // in the queue: less than one old drop's worth, on a machine that runs other tests meanwhile.
    expect(retrans).toBeLessThan(45);
    expect(up.retransmits).toBeLessThan(45);
  });

  it("ECN: a cubic flow to the container that negotiated ECN is CE-marked before the leaf would drop, and retransmits nothing", async () => {
    const t = topology(scope, { bridge: "reference", caps: caps(100) });
    const [client, server] = [t.ctrs[0]!, t.ctrs[1]!];
    client.ns.run("sysctl", ["-qw", "net.ipv4.tcp_ecn=1"]); // the client asks for ECN; the server's default (2) accepts it
    const dir = path.join(t.pinRoot, t.list.name, `${client.id}-eth0`);
    const marks0 = readShapingStats(dir).egress.marks; // host veth egress = towards the container
    const before = retransSegs(server.ns);
    const down = await iperf(client.ns, server, 2, true, "cubic");
    const retrans = retransSegs(server.ns) - before;
    expect(down.mbps).toBeGreaterThan(85);
    expect(down.mbps).toBeLessThan(100.5);
    expect(readShapingStats(dir).egress.marks - marks0).toBeGreaterThan(0n);
    // Without ECN this flow lost 2-4 whole 64 KiB packets at the leaf (30-60 segments) in slow start.
    expect(retrans).toBeLessThan(20);
  });
});
