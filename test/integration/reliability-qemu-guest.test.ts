// Runs only inside the qemu guest (reliability/qemu/run.sh sets TSCNI_QEMU_GUEST=1) on Debian's 6.1
// kernel: no TCX, sch_fq loadable, bridge VLAN filtering present. Checks the kernel facts the
// harness promises, then ebpf-bandwidth where TCX is missing (the clsact fallback) and in EDT mode
// (sch_fq loaded), each with real traffic and a clean node after DEL.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { addNetworkList, delNetworkList } from "../../demo/chain";
import { haveSchFq, haveTcx } from "../../kernel/bpf/index";
import { NsScope, uniqueName } from "../helpers/netns";
import { DIST_BIN } from "../helpers/plugin";
import { chainBinDir, conflist, ifbClasses, iperf, pinsUnder, privateBpffs, tc } from "./ebpf-bandwidth-helpers";

const inGuest = process.env.TSCNI_QEMU_GUEST === "1";
const scope = new NsScope();
afterEach(() => scope.cleanup());

const MBIT = 1_000_000;
const caps = (mbit: number) => ({ ingressRate: mbit * MBIT, ingressBurst: 524_288, egressRate: mbit * MBIT, egressBurst: 524_288 });

/** Two containers on our bridge, the first shaped by ebpf-bandwidth with `extra` config keys. */
function shaped(extra: Record<string, unknown>, limited = true) {
  const node = scope.netns("qn");
  const binDir = chainBinDir(scope, "ours");
  const pinRoot = privateBpffs(scope);
  const list = conflist(uniqueName("qnet"), scope.tmpdir("tscni-qipam-"), pinRoot);
  Object.assign(list.plugins[1]!, extra);
  const o = { binDir, nodeNetns: node.name };
  const ctrs = [0, 1].map((i) => {
    const ns = scope.netns("qc");
    const a = { containerID: uniqueName("qctr"), netns: ns.path, ifname: "eth0", ...(i === 0 && limited ? { capabilityArgs: { bandwidth: caps(10) } } : {}) };
    const result = addNetworkList(o, list, a);
    scope.onCleanup(() => {
      try {
        delNetworkList(o, list, a, result);
      } catch {
        /* best effort */
      }
    });
    return { ns, a, result, ip: String(result.ips[0].address).split("/")[0]! };
  });
  return { node, o, list, pinRoot, ctrs };
}

describe.skipIf(!inGuest)("second kernel (qemu guest)", () => {
  it("is Debian's 6.1 without TCX, with sch_fq loaded", () => {
    expect(spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout).toMatch(/^6\.1\./);
    expect(haveTcx()).toBe(false);
    expect(haveSchFq()).toBe(true);
    expect(fs.readFileSync("/proc/modules", "utf8")).toMatch(/^sch_fq /m);
    expect(fs.existsSync(DIST_BIN)).toBe(true);
  });

  it("without limits (ebpf-bandwidth passes prevResult on), the containers reach each other", () => {
    const t = shaped({}, false);
    expect(t.ctrs[0]!.ns.run("ping", ["-c", "2", "-W", "3", t.ctrs[1]!.ip], { allowFail: true }).status).toBe(0);
  });

  it("police mode on the clsact fallback: reachable, rate held, DEL leaves no pins", async () => {
    const t = shaped({ mode: "police" });
    expect(t.ctrs[0]!.ns.run("ping", ["-c", "2", "-W", "3", t.ctrs[1]!.ip], { allowFail: true }).status).toBe(0);
    const up = await iperf(t.ctrs[0]!.ns, t.ctrs[1]!, 3);
    expect(up.mbps).toBeLessThan(12.5); // a policer overshoots a little (RELIABILITY.md, docs/ebpf-bandwidth.md)
    const c = t.ctrs[0]!;
    delNetworkList(t.o, t.list, c.a, c.result);
    expect(pinsUnder(t.pinRoot).filter((p) => p.includes(c.a.containerID))).toEqual([]);
  });

  it("ebpf-bandwidth falls back to clsact without TCX: shapes both ways, DEL leaves nothing", async () => {
    const t = shaped({ mode: "htb" });
    const up = await iperf(t.ctrs[0]!.ns, t.ctrs[1]!, 3);
    const down = await iperf(t.ctrs[0]!.ns, t.ctrs[1]!, 3, true);
    // Before 6.4 an IFB drops what bpf_redirect() hands it (K1): on clsact the container's egress
    // reaches the IFB through a mirred action on our filter, so both directions are queued.
    for (const r of [up, down]) {
      expect(r.mbps).toBeLessThan(10.5);
      expect(r.mbps).toBeGreaterThan(5); // TCG is slow, but 10 Mbit is far below what it forwards
    }
    const c = t.ctrs[0]!;
    const veth = String(c.result.interfaces[1].name); // our bridge's result: bridge, host veth, container
    expect(tc(t.node, "filter", "show", "dev", veth, "ingress")).toMatch(/mirred \(Egress Redirect to device tscni-ifb0\)/);
    expect(tc(t.node, "class", "show", "dev", "tscni-ifb0")).toMatch(/class htb 7c2:/);
    delNetworkList(t.o, t.list, c.a, c.result);
    expect(pinsUnder(t.pinRoot).filter((p) => p.includes(c.a.containerID))).toEqual([]);
  });

  it("ebpf-bandwidth EDT mode with sch_fq: holds the rate, DEL leaves no fq or pins", async () => {
    const t = shaped({ mode: "edt" });
    // Download = edt + fq on the host veth (what EDT is about); upload = the IFB class (mirred).
    const down = await iperf(t.ctrs[0]!.ns, t.ctrs[1]!, 3, true);
    const up = await iperf(t.ctrs[0]!.ns, t.ctrs[1]!, 3);
    for (const r of [up, down]) {
      expect(r.mbps).toBeLessThan(10.5);
      expect(r.mbps).toBeGreaterThan(5);
    }
    for (const c of t.ctrs) delNetworkList(t.o, t.list, c.a, c.result);
    expect(pinsUnder(t.pinRoot)).toEqual([]);
    // The shared IFB stays, idle, for the next shaped pod (GC deletes it): no class on it.
    expect(ifbClasses(t.node)).toEqual([]);
    expect(tc(t.node, "qdisc", "show").split("\n").filter((l) => !l.includes(" dev tscni-ifb0 ")).join("\n")).not.toMatch(/htb|bfifo|tbf|clsact/);
  });
});
