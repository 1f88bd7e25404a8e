// ebpf-bandwidth with the names a runtime may legally send (issue #11): attachments whose old
// names collided, dots (bpffs refuses them in names), very long container IDs and network names,
// and a plugin run where pins could not outlive it (a private mount namespace without bpffs).
// Full chain (our bridge + host-local + ebpf-bandwidth) in a throwaway node namespace.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Conflist, addNetworkList, checkNetworkList, delNetworkList } from "../../demo/chain";
import { type Netns, NsScope, isRoot, uniqueName } from "../helpers/netns";
import { DIST_BIN, execPlugin, usingBuiltBinary } from "../helpers/plugin";
import { chainBinDir, conflist, ifbClasses, linksOf, pinsUnder, privateBpffs, tc } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const MBIT = 1_000_000;
const caps = (mbit: number) => ({ bandwidth: { ingressRate: mbit * MBIT, ingressBurst: 524_288, egressRate: mbit * MBIT, egressBurst: 524_288 } });

interface World {
  node: Netns;
  binDir: string;
  pinRoot: string;
  dataDir: string;
  list: Conflist;
}

function world(network = uniqueName("bwnet")): World {
  const node = scope.netns("bwn");
  const binDir = chainBinDir(scope, "ours");
  const pinRoot = privateBpffs(scope);
  const dataDir = scope.tmpdir("tscni-names-");
  return { node, binDir, pinRoot, dataDir, list: conflist(network, dataDir, pinRoot) };
}

interface Ctr {
  ns: Netns;
  att: { containerID: string; netns: string; ifname: string; capabilityArgs: Record<string, unknown> };
  result: any;
}

function add(w: World, containerID: string, ifname: string, mbit: number): Ctr {
  const ns = scope.netns("bwc");
  const att = { containerID, netns: ns.path, ifname, capabilityArgs: caps(mbit) };
  const result = addNetworkList({ binDir: w.binDir, nodeNetns: w.node.name }, w.list, att);
  scope.onCleanup(() => {
    try {
      delNetworkList({ binDir: w.binDir, nodeNetns: w.node.name }, w.list, att, result);
    } catch {
      /* best effort */
    }
  });
  return { ns, att, result };
}

const del = (w: World, c: Ctr) => delNetworkList({ binDir: w.binDir, nodeNetns: w.node.name }, w.list, c.att, c.result);
const check = (w: World, c: Ctr) => checkNetworkList({ binDir: w.binDir, nodeNetns: w.node.name }, w.list, c.att, c.result);
const hostVethOf = (c: Ctr) => c.result.interfaces.find((i: any) => !i.sandbox && i.mac && i.name.startsWith("veth")).name as string;

/** Rates (bit/s) of the top-level HTB classes on a device (one per attachment), ascending. */
function rates(node: Netns, dev: string): number[] {
  const r = node.run("tc", ["class", "show", "dev", dev], { allowFail: true });
  const unit: Record<string, number> = { "": 1, K: 1e3, M: 1e6, G: 1e9 };
  return [...r.stdout.matchAll(/^class htb \S+ root (?:prio \d+ )?rate (\d+)([KMG]?)bit/gm)].map((m) => Number(m[1]) * unit[m[2]!]!).sort((a, b) => a - b);
}

/** Attachment directories under the pin root: "<network>/<attachment>". */
const attachmentDirs = (pinRoot: string) => pinsUnder(pinRoot).filter((p) => p.split(path.sep).length === 2);

/** No pins, no classes on the shared IFB (which DEL leaves idle for the next pod), no qdisc of ours elsewhere. */
function expectClean(w: World) {
  expect(pinsUnder(w.pinRoot)).toEqual([]);
  expect(ifbClasses(w.node)).toEqual([]);
  expect(tc(w.node, "qdisc", "show").split("\n").filter((l) => !l.includes(" dev tscni-ifb0 ")).join("\n")).not.toMatch(/htb|bfifo|tbf/);
}

describe.skipIf(!canRun)("ebpf-bandwidth: every name a runtime may send", () => {
  it("keeps apart (pod-x, eth0) and (pod, x-eth0): DEL, GC and CHECK of one leave the other's limit", () => {
    const w = world();
    const pod = uniqueName("pod");
    const a = add(w, `${pod}-x`, "eth0", 10);
    const b = add(w, pod, "x-eth0", 20);
    expect(attachmentDirs(w.pinRoot)).toEqual([`${w.list.name}/${pod}-x%2deth0`, `${w.list.name}/${pod}-x-eth0`]);
    expect(rates(w.node, "tscni-ifb0")).toEqual([10 * MBIT, 20 * MBIT]);
    expect(rates(w.node, hostVethOf(a))).toEqual([10 * MBIT]);
    expect(rates(w.node, hostVethOf(b))).toEqual([20 * MBIT]);

    // A retried ebpf-bandwidth ADD of b starts clean: only b's state is rebuilt.
    const retry = execPlugin("ebpf-bandwidth", {
      command: "ADD", node: w.node, binDir: w.binDir, containerID: b.att.containerID, netns: b.att.netns, ifname: b.att.ifname,
      config: { cniVersion: "1.0.0", name: w.list.name, type: "ebpf-bandwidth", pinRoot: w.pinRoot, runtimeConfig: caps(20), prevResult: b.result },
    });
    expect(retry.code).toBe(0);
    expect(rates(w.node, "tscni-ifb0")).toEqual([10 * MBIT, 20 * MBIT]);
    check(w, a);

    del(w, b);
    expect(attachmentDirs(w.pinRoot)).toEqual([`${w.list.name}/${pod}-x-eth0`]);
    expect(rates(w.node, "tscni-ifb0")).toEqual([10 * MBIT]);
    expect(rates(w.node, hostVethOf(a))).toEqual([10 * MBIT]);
    check(w, a);

    // GC naming only a keeps a; b (added again) goes.
    const b2 = add(w, pod, "x-eth0", 20);
    const gc = execPlugin("ebpf-bandwidth", {
      command: "GC", node: w.node, binDir: w.binDir,
      config: { cniVersion: "1.1.0", name: w.list.name, type: "ebpf-bandwidth", pinRoot: w.pinRoot, "cni.dev/valid-attachments": [{ containerID: a.att.containerID, ifname: "eth0" }] },
    });
    expect(gc.stdout).toBe("");
    expect(gc.code).toBe(0);
    expect(attachmentDirs(w.pinRoot)).toEqual([`${w.list.name}/${pod}-x-eth0`]);
    expect(rates(w.node, "tscni-ifb0")).toEqual([10 * MBIT]);
    expect(rates(w.node, hostVethOf(b2))).toEqual([]);
    check(w, a);

    del(w, b2);
    del(w, a);
    expectClean(w);
  });

  it("takes dots in the container ID, the network name and the interface name (ADD, CHECK, DEL)", () => {
    const u = uniqueName("d");
    const w = world(`x.${u}.n2`);
    const c = add(w, `cl0.3.1.${u}`, "eth0.5", 10);
    expect(attachmentDirs(w.pinRoot)).toEqual([`x%2e${u}%2en2/cl0%2e3%2e1%2e${u}-eth0%2e5`]);
    expect(rates(w.node, hostVethOf(c))).toEqual([10 * MBIT]);
    check(w, c);
    // `tscni stats` shows the names as the runtime sent them.
    const stats = spawnSync("nsenter", [`--net=${w.node.path}`, DIST_BIN, "stats", "--pin-dir", w.pinRoot], { encoding: "utf8" });
    expect(stats.status).toBe(0);
    expect(stats.stdout).toContain(`x.${u}.n2`);
    del(w, c);
    expectClean(w);
    del(w, c); // DEL again: idempotent
  });

  it("takes a 2,048-character container ID and a 255-character network name", () => {
    const u = uniqueName("l");
    const w = world(`${u}${"n".repeat(255 - u.length)}`);
    const id = `${u}${"c".repeat(2048 - u.length)}`;
    const c = add(w, id, "eth0", 10);
    const dirs = attachmentDirs(w.pinRoot);
    expect(dirs).toHaveLength(1);
    expect(dirs[0]!.split(path.sep)[0]).toBe(w.list.name);
    expect(dirs[0]!.split(path.sep)[1]).toMatch(/^[a-z0-9]+c+%h[0-9a-f]{32}-eth0$/);
    check(w, c);
    del(w, c);
    expectClean(w);
  });

  it("refuses an ADD whose pins could not outlive it (private mount namespace without bpffs), leaving nothing", () => {
    const w = world();
    const list: Conflist = { ...w.list, plugins: [w.list.plugins[0]!] }; // the bridge alone
    const c = add({ ...w, list }, uniqueName("pm"), "eth0", 10);
    // `ip netns exec` mounts a fresh /sys in a private mount namespace: no bpffs at /sys/fs/bpf.
    // The default pin root is used, so the plugin would have to mount bpffs there itself.
    const r = spawnSync("ip", ["netns", "exec", w.node.name, path.join(w.binDir, "ebpf-bandwidth")], {
      input: JSON.stringify({ cniVersion: "1.0.0", name: w.list.name, type: "ebpf-bandwidth", ...caps(10).bandwidth, prevResult: c.result }),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CNI_COMMAND: "ADD", CNI_CONTAINERID: c.att.containerID, CNI_NETNS: c.att.netns, CNI_IFNAME: "eth0", CNI_PATH: w.binDir },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    const err = JSON.parse(r.stdout);
    expect(err.code).toBe(50);
    expect(err.msg).toMatch(/\/sys\/fs\/bpf is not a bpf filesystem/);
    expect(err.details).toMatch(/nsenter --net/);
    expect(linksOf(w.node)).not.toContain("tscni-ifb0");
    expect(tc(w.node, "qdisc", "show", "dev", hostVethOf(c))).not.toMatch(/htb|bfifo|tbf/);
  });
});
