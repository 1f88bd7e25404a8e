// The kubelet path end to end: a private containerd (Debian's 1.6, CRI v1 over gRPC) in a
// throwaway node namespace runs pod sandboxes (offline pause image) on the conflist
// `tscni install --conflist-dir` writes — bridge + host-local + ebpf-bandwidth with the bandwidth
// capability, containerd running loopback itself — once on our plugins and once on the Go
// reference plugins, in the same run. Pods start and go in parallel; addresses come from
// PodSandboxStatus, connectivity from ping, the caps (pod annotations, containerd's 2^32-1-bit
// burst) from iperf3 inside the pod namespaces; afterwards nothing may be left.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NsScope, isRoot } from "../helpers/netns";
import { haveReference, usingBuiltBinary } from "../helpers/plugin";
import { haveContainerd } from "../cri/containerd";
import { type Side, type World, inNetns, inventory, iperf, ping, podConfig, podNetns, startWorld, stopWorld } from "../cri/world";
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skipAll = !isRoot() ? "needs root" : !haveContainerd() ? "containerd / runc not installed (scripts/ci-deps.sh)" : !usingBuiltBinary() ? "dist/tscni not built" : !have("iperf3") || !have("gcc") ? "iperf3 / gcc missing (scripts/setup.sh)" : undefined;

const CAP = 10_000_000; // "10M" in the annotations: a Kubernetes quantity, bits per second
const SHAPED = { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "10M" };
const PODS: [string, Record<string, string>][] = [
  ["a", {}],
  ["b", {}],
  ["s", SHAPED],
  ["t", { "kubernetes.io/ingress-bandwidth": "20M" }],
];
const SUBNET: Record<Side, string> = { ours: "10.88.1.0/24", reference: "10.88.2.0/24" };

for (const side of ["ours", "reference"] as const) {
  const skip = skipAll ?? (side === "reference" && !haveReference("bandwidth") ? "containernetworking-plugins not installed" : undefined);
  describe.skipIf(skip !== undefined)(`CRI: containerd → ${side} plugins${skip ? ` (${skip})` : ""}`, () => {
    const scope = new NsScope();
    let w: World;
    const pods: Record<string, { id: string; ip: string; netns: string; netnsIno: number }> = {};

    beforeAll(async () => {
      w = await startWorld(scope, side, SUBNET[side]);
      await w.ctd.waitReady();
    }, 120_000);
    afterAll(async () => {
      await w?.ctd.stop();
      scope.cleanup();
    }, 120_000);

    it("runs four pods at once, with and without bandwidth annotations: READY, addresses from the subnet, lo up", async () => {
      const ids = await Promise.all(PODS.map(([name, ann]) => w.ctd.cri.runPodSandbox(podConfig(w, name, ann))));
      for (const [i, [name, ann]] of PODS.entries()) {
        const st = await w.ctd.cri.podSandboxStatus(ids[i]!);
        expect(st.state).toBe("SANDBOX_READY");
        expect(st.annotations).toEqual(ann);
        expect(st.ip).toMatch(/^10\.88\.[12]\.\d+$/);
        expect(st.ip.startsWith(SUBNET[side].slice(0, 8))).toBe(true);
        expect(st.additionalIps).toEqual([]);
        const netns = podNetns(st);
        pods[name] = { id: ids[i]!, ip: st.ip, netns, netnsIno: fs.statSync(netns).ino };
        // eth0 holds the address containerd reports; lo is up only because loopback ran.
        expect(inNetns(netns, "ip", ["-o", "-4", "addr", "show", "eth0"]).stdout).toContain(` ${st.ip}/24 `);
        const [lo] = JSON.parse(inNetns(netns, "ip", ["-j", "addr", "show", "lo"]).stdout);
        expect(lo.flags).toContain("UP");
        expect(lo.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual(["127.0.0.1/8", "::1/128"]);
      }
      expect(new Set(Object.values(pods).map((p) => p.ip)).size).toBe(4);
      // What the last test finds gone exists now: veths, the shaping (ours: pins and one IFB for
      // the node; the reference: TBF qdiscs and an IFB per pod with an egress cap), NAT, reservations.
      const inv = inventory(w, Object.values(pods));
      expect(inv.links.filter((l) => l.startsWith("veth")).length).toBe(4);
      expect(inv.links.filter((l) => (side === "ours" ? l === "tscni-ifb0" : l.startsWith("bwp"))).length).toBe(1);
      expect(inv.qdiscs.length).toBeGreaterThan(0);
      expect(side === "ours" ? inv.pins.length > 0 : inv.pins.length === 0).toBe(true);
      expect(inv.nat.length).toBeGreaterThan(0);
      expect(inv.reservations.sort()).toEqual(Object.values(pods).map((p) => p.ip).sort());
      expect(inv.cache.length).toBe(8); // eth0 and lo (containerd's loopback network) per pod
      expect((await w.ctd.cri.listPodSandbox()).map((p) => p.state)).toEqual(["SANDBOX_READY", "SANDBOX_READY", "SANDBOX_READY", "SANDBOX_READY"]);
    }, 120_000);

    it("pods reach each other and the gateway", () => {
      for (const [from, to] of [["a", "b"], ["b", "s"], ["s", "t"], ["t", "a"]] as const) {
        const r = ping(pods[from]!.netns, pods[to]!.ip);
        expect(r.stdout, `${from} → ${to}: ${r.stderr}`).toMatch(/2 packets transmitted, 2 received, 0% packet loss/);
      }
      expect(ping(pods.a!.netns, SUBNET[side].replace(/0\/24$/, "1")).status).toBe(0);
    });

    it("holds the annotated pod at 10 Mbit/s in both directions; an unannotated pod runs far above", async () => {
      const up = await iperf(pods.a!.netns, pods.a!.ip, pods.s!.netns, { seconds: 3 }); // from the shaped pod: egress
      const down = await iperf(pods.a!.netns, pods.a!.ip, pods.s!.netns, { seconds: 3, reverse: true }); // to it: ingress
      const free = await iperf(pods.a!.netns, pods.a!.ip, pods.b!.netns, { seconds: 1 });
      process.stdout.write(`CRI ${side}: shaped egress ${(up.bps / 1e6).toFixed(2)} Mbit/s (${up.retransmits} retransmits), ingress ${(down.bps / 1e6).toFixed(2)} Mbit/s (${down.retransmits}), unshaped ${(free.bps / 1e6).toFixed(0)} Mbit/s\n`);
      // Goodput is ~95.6 % of the wire rate both plugins limit (TCP/IP headers).
      for (const f of [up, down]) {
        expect(f.bps).toBeGreaterThan(0.85 * CAP);
        expect(f.bps).toBeLessThan(1.02 * CAP);
      }
      expect(free.bps).toBeGreaterThan(20 * CAP);
    }, 120_000);

    it("stops and removes the pods at once, leaving nothing on the node", async () => {
      const list = Object.values(pods);
      expect(list.length).toBe(4);
      await Promise.all(list.map((p) => w.ctd.cri.stopPodSandbox(p.id)));
      await Promise.all(list.map((p) => w.ctd.cri.removePodSandbox(p.id)));
      expect(await w.ctd.cri.listPodSandbox()).toEqual([]);
      // Shims (and with them the pause processes holding the namespaces) exit on their own after
      // the remove: give them time on a loaded machine.
      let inv = inventory(w, list);
      for (let i = 0; i < 150 && inv.shims.length + inv.netnsAlive.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        inv = inventory(w, list);
      }
      // Ours keeps its one IFB, idle, for the next pod (GC removes it); the reference deletes its per-pod IFBs.
      expect(inv).toEqual({ links: [w.bridge, "lo"].sort(), qdiscs: [], nat: [], reservations: [], pins: [], cache: [], netnsFiles: [], netnsAlive: [], shims: [], idleIfb: side === "ours" });
    }, 120_000);

    it("containerd stops without leaving processes, mounts or cgroups", async () => {
      expect(await stopWorld(w)).toEqual({ processes: [], mounts: [], cgroups: [] });
    }, 60_000);
  });
}
