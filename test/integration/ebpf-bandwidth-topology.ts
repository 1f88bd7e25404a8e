// Shared set-up for the ebpf-bandwidth integration tests and scripts/bench-bandwidth.ts: a node
// namespace, two containers on a bridge (ours or the reference), our ebpf-bandwidth chained after
// it, a private bpffs for pins (NOT /sys/fs/bpf: `ip netns exec` remounts /sys, so pins there would
// land on a throwaway bpffs), and iperf3/tc helpers. No vitest here: the benchmark runs it under
// plain tsx (assertions live in ebpf-bandwidth-helpers.ts).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Conflist, addNetworkList, delNetworkList } from "../../demo/chain";
import { type Netns, type NsScope, uniqueName } from "../helpers/netns";
import { REFERENCE_DIR, execPlugin, ourBinDir } from "../helpers/plugin";
import { until } from "../helpers/wait";

/** Mount a fresh bpffs for this test file; unmounted (and its pins dropped) at cleanup. */
export function privateBpffs(scope: NsScope): string {
  const dir = fs.mkdtempSync("/tmp/tscni-bpffs-");
  execFileSync("mount", ["-t", "bpf", "bpf", dir]);
  scope.onCleanup(() => {
    spawnSync("umount", ["-l", dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export function chainBinDir(scope: NsScope, bridge: "ours" | "reference"): string {
  const dir = scope.tmpdir("tscni-bwbin-");
  const ours = ourBinDir();
  const from = bridge === "ours" ? ours : REFERENCE_DIR;
  fs.symlinkSync(path.join(from, "bridge"), path.join(dir, "bridge"));
  fs.symlinkSync(path.join(from, "host-local"), path.join(dir, "host-local"));
  fs.symlinkSync(path.join(ours, "ebpf-bandwidth"), path.join(dir, "ebpf-bandwidth"));
  fs.symlinkSync(path.join(REFERENCE_DIR, "bandwidth"), path.join(dir, "bandwidth"));
  return dir;
}

export interface Topo {
  node: Netns;
  binDir: string;
  pinRoot: string;
  list: Conflist;
  ctrs: { ns: Netns; id: string; ip: string; result: any }[];
}

export function conflist(name: string, dataDir: string, pinRoot: string, bandwidth: Record<string, unknown> = {}, type = "ebpf-bandwidth"): Conflist {
  return {
    cniVersion: "1.0.0",
    name,
    plugins: [
      { type: "bridge", bridge: "bwbr0", isGateway: true, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.77.0.0/24" }]] } },
      { type, capabilities: { bandwidth: true }, ...(type === "ebpf-bandwidth" ? { pinRoot } : {}), ...bandwidth },
    ],
  };
}

/** Node + containers; the first container gets `caps` as the bandwidth capability, the rest none. */
export function topology(scope: NsScope, o: { bridge: "ours" | "reference"; caps?: Record<string, number>; n?: number; type?: string; pinRoot?: string; extra?: Record<string, unknown> }): Topo {
  const node = scope.netns("bwn");
  const binDir = chainBinDir(scope, o.bridge);
  const pinRoot = o.pinRoot ?? privateBpffs(scope);
  const list = conflist(uniqueName("bwnet"), scope.tmpdir("tscni-bwipam-"), pinRoot, o.extra ?? {}, o.type);
  const ctrs: Topo["ctrs"] = [];
  for (let i = 0; i < (o.n ?? 2); i++) {
    const ns = scope.netns("bwc");
    const id = uniqueName("ctr");
    const capabilityArgs = i === 0 && o.caps ? { bandwidth: o.caps } : undefined;
    const result = addNetworkList({ binDir, nodeNetns: node.name }, list, { containerID: id, netns: ns.path, ifname: "eth0", capabilityArgs });
    const ip = String(result.ips[0].address).split("/")[0]!;
    ctrs.push({ ns, id, ip, result });
    scope.onCleanup(() => {
      try {
        delNetworkList({ binDir, nodeNetns: node.name }, list, { containerID: id, netns: ns.path, ifname: "eth0", capabilityArgs }, result);
      } catch {
        /* best effort */
      }
    });
  }
  return { node, binDir, pinRoot, list, ctrs };
}

/** Host veth of a container (peer index of its eth0). */
export function hostVeth(t: Topo, i: number): string {
  const peer = (JSON.parse(t.ctrs[i]!.ns.ip("-j", "link", "show", "eth0")) as { link_index: number }[])[0]!.link_index;
  const links = JSON.parse(t.node.ip("-j", "link", "show")) as { ifindex: number; ifname: string }[];
  return links.find((l) => l.ifindex === peer)!.ifname;
}

export interface IperfResult {
  mbps: number;
  retransmits: number;
}

/** iperf3 TCP from container `from` to the server in `to`; reverse = server sends; `cc`: iperf3 -C. */
export async function iperf(from: Netns, to: { ns: Netns; ip: string }, seconds: number, reverse = false, cc?: string): Promise<IperfResult> {
  const port = String(5201 + Math.floor(Math.random() * 2000));
  const server = spawn("ip", ["netns", "exec", to.ns.name, "iperf3", "-s", "-1", "-p", port], { stdio: "ignore" });
  let exited = false;
  server.on("exit", () => (exited = true));
  try {
    // Connect once the server listens (it takes seconds under qemu's TCG); fail if it died instead.
    await until(() => {
      if (exited) throw new Error(`iperf3 server on port ${port} exited before listening`);
      return to.ns.run("ss", ["-Hltn", `sport = :${port}`], { allowFail: true }).stdout.trim() !== "";
    }, `the iperf3 server to listen on port ${port}`, 60_000, 50);
    const r = from.run("iperf3", ["-c", to.ip, "-p", port, "-t", String(seconds), "-J", "-O", "1", ...(reverse ? ["-R"] : []), ...(cc ? ["-C", cc] : [])], { allowFail: true });
    const j = JSON.parse(r.stdout);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    return { mbps: j.end.sum_received.bits_per_second / 1e6, retransmits: j.end.sum_sent.retransmits ?? 0 };
  } finally {
    server.kill();
  }
}

export const tc = (ns: Netns, ...args: string[]) => ns.run("tc", args).stdout;
export const linksOf = (ns: Netns) => (JSON.parse(ns.ip("-j", "link", "show")) as { ifname: string }[]).map((l) => l.ifname);

/** Every file under a directory (pins), relative. */
export function pinsUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  // maps.debug / progs.debug: the kernel's own iterators at every bpffs root.
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => !p.endsWith(".debug")).sort();
}

/** Run our plugin directly on a topology (GC, STATUS, or a verb for container `i`). */
export function runBandwidth(t: Topo, command: string, extra: Record<string, unknown> = {}, i?: number) {
  const conf = { cniVersion: "1.1.0", name: t.list.name, type: "ebpf-bandwidth", pinRoot: t.pinRoot, ...extra };
  return execPlugin("ebpf-bandwidth", {
    command, config: conf, node: t.node, binDir: t.binDir,
    ...(i === undefined ? {} : { containerID: t.ctrs[i]!.id, netns: t.ctrs[i]!.ns.path, ifname: "eth0" }),
  });
}
