// The containerd CNI config template under a real containerd (Debian's 1.6, the CRI plugin's
// conf_template): `tscni install --containerd-template` (the built executable) lays out the
// plugins and the template, containerd starts with no conflist (network not ready), and the test
// sends UpdateRuntimeConfig with the node's pod subnets, as kubelet does once the Node has them.
// containerd renders the template into its conf_dir, picks the conflist up, and pods get addresses
// from the subnets, reach their neighbour, and are shaped by their bandwidth annotations — once
// single-stack, once dual-stack with two ranges (IPv6 first, as an IPv6-primary cluster's kubelet
// sends them). Afterwards nothing may be left on the node.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConflist, parsePodCidrs } from "../../cli/conflist";
import { containerdConfigLines } from "../../cli/install-cni";
import { PLUGIN_NAMES } from "../../cli/registry";
import { haveContainerd } from "../cri/containerd";
import { type World, inNetns, inventory, iperf, ping, podConfig, podNetns, startWorld, stopWorld } from "../cri/world";
import { NsScope, isRoot } from "../helpers/netns";
import { DIST_BIN, usingBuiltBinary } from "../helpers/plugin";
import { until } from "../helpers/wait";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip = !isRoot() ? "needs root" : !haveContainerd() ? "containerd / runc not installed (scripts/ci-deps.sh)" : !usingBuiltBinary() ? "dist/tscni not built" : !have("iperf3") || !have("gcc") ? "iperf3 / gcc missing (scripts/setup.sh)" : undefined;

const CAP = 10_000_000;
const SHAPED = { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "10M" };
/** What kubelet sends: the Node's spec.podCIDRs joined by ",". */
const CASES: [string, string][] = [
  ["single-stack", "10.88.6.0/24"],
  ["dual-stack", "fd00:10:88:7::/64,10.88.7.0/24"],
];

const inSubnet = (ip: string, cidr: string) => (cidr.includes(":") ? ip.startsWith(cidr.split("::")[0]! + ":") : ip.startsWith(cidr.replace(/0\/24$/, "")));

for (const [what, podCidr] of CASES) {
  const ranges = podCidr.split(",");
  const v4 = ranges.find((r) => !r.includes(":"))!;
  const v6 = ranges.find((r) => r.includes(":"));
  describe.skipIf(skip !== undefined)(`CRI: containerd renders the conflist from tscni's template, ${what}${skip ? ` (${skip})` : ""}`, () => {
    const scope = new NsScope();
    let w: World;
    let hostBin: string;
    let hostConf: string;
    let template: string;
    let installed: { status: number | null; stdout: string; stderr: string };
    const pods: Record<string, { id: string; ip: string; ip6?: string; netns: string }> = {};

    beforeAll(async () => {
      const root = scope.tmpdir("tscni-tmpl-host-");
      hostBin = path.join(root, "opt/cni/bin");
      hostConf = path.join(root, "etc/cni/net.d");
      template = path.join(root, "etc/containerd/tscni-cni.template");
      fs.mkdirSync(hostBin, { recursive: true });
      fs.mkdirSync(hostConf, { recursive: true });
      w = await startWorld(scope, "ours", v4, { binDir: hostBin, confDir: hostConf, conflist: false, confTemplate: template });
      // Unique names and a private host-local store, as in the other CRI tests.
      const r = spawnSync(DIST_BIN, ["install", "--dir", hostBin, "--containerd-template", template, "--network", w.net, "--bridge", w.bridge, "--data-dir", w.dataDir], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      });
      installed = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }, 120_000);
    afterAll(async () => {
      await w?.ctd.stop();
      scope.cleanup();
    }, 120_000);

    it("installs the plugins and the template, and prints the config.toml lines containerd runs with here", () => {
      expect(installed.stderr).toBe("");
      expect(installed.status).toBe(0);
      const out = installed.stdout.trim().split("\n");
      expect(out.slice(0, 6)).toEqual([...["tscni", ...PLUGIN_NAMES].map((n) => `installed ${path.join(hostBin, n)}`), `wrote ${template}`]);
      const printed = containerdConfigLines(hostBin, template);
      expect(out.slice(-4)).toEqual(printed.map((l) => `  ${l}`));
      // The test's containerd has the printed conf_template and bin_dir (its conf_dir is private).
      const toml = fs.readFileSync(path.join(w.dir, "containerd/config.toml"), "utf8");
      for (const l of [printed[0]!, printed[1]!, printed[3]!]) expect(toml).toContain(l.trim());
      expect(fs.readdirSync(hostConf)).toEqual([]);
    });

    it("leaves containerd's network not ready: a template, but no conflist until kubelet sends the subnets", async () => {
      const net = (await w.ctd.cri.conditions()).find((c) => c.type === "NetworkReady");
      expect(net?.status).toBe(false);
      expect(net?.message).toMatch(/cni/i);
    });

    it(`UpdateRuntimeConfig with "${podCidr}" makes containerd write the conflist from the template; the network gets ready`, async () => {
      await w.ctd.cri.updateRuntimeConfig(podCidr);
      await until(() => fs.readdirSync(hostConf).includes("10-containerd-net.conflist"), "containerd to render the template");
      expect(fs.readdirSync(hostConf)).toEqual(["10-containerd-net.conflist"]);
      const rendered = JSON.parse(fs.readFileSync(path.join(hostConf, "10-containerd-net.conflist"), "utf8"));
      const expected = buildConflist({ podCidr, network: w.net, bridge: w.bridge, dataDir: w.dataDir }) as any;
      // host-local's ranges in kubelet's order; everything else as the fixed conflist.
      expected.plugins[0].ipam.ranges = ranges.map((subnet) => [{ subnet }]);
      expect(rendered).toEqual(expected);
      expect(parsePodCidrs(podCidr)).toEqual([v4, ...(v6 ? [v6] : [])]);
      await w.ctd.waitReady();
      // kubelet sends the subnets again after each of its restarts: containerd keeps the conflist it has.
      await w.ctd.cri.updateRuntimeConfig(podCidr);
      expect(JSON.parse(fs.readFileSync(path.join(hostConf, "10-containerd-net.conflist"), "utf8"))).toEqual(rendered);
    }, 60_000);

    it("pods get addresses from the subnets and reach their neighbour", async () => {
      for (const [name, ann] of [["a", {}], ["s", SHAPED]] as const) {
        const id = await w.ctd.cri.runPodSandbox(podConfig(w, name, ann));
        const st = await w.ctd.cri.podSandboxStatus(id);
        expect(st.state).toBe("SANDBOX_READY");
        expect(inSubnet(st.ip, v4), `${st.ip} in ${v4}`).toBe(true); // containerd's ip_pref: IPv4 first
        const netns = podNetns(st);
        expect(inNetns(netns, "ip", ["-o", "-4", "addr", "show", "eth0"]).stdout).toContain(` ${st.ip}/24 `);
        if (v6) {
          expect(st.additionalIps.length).toBe(1);
          expect(inSubnet(st.additionalIps[0]!, v6), `${st.additionalIps[0]} in ${v6}`).toBe(true);
          expect(inNetns(netns, "ip", ["-o", "-6", "addr", "show", "eth0", "scope", "global"]).stdout).toContain(` ${st.additionalIps[0]}/64 `);
        } else {
          expect(st.additionalIps).toEqual([]);
        }
        pods[name] = { id, ip: st.ip, ...(v6 ? { ip6: st.additionalIps[0] } : {}), netns };
      }
      for (const [from, to] of [["a", "s"], ["s", "a"]] as const) {
        const r = ping(pods[from]!.netns, pods[to]!.ip);
        expect(r.stdout, `${from} → ${to}: ${r.stderr}`).toMatch(/2 packets transmitted, 2 received, 0% packet loss/);
        if (v6) {
          const r6 = ping(pods[from]!.netns, pods[to]!.ip6!);
          expect(r6.stdout, `${from} → ${to} (IPv6): ${r6.stderr}`).toMatch(/2 packets transmitted, 2 received, 0% packet loss/);
        }
      }
    }, 120_000);

    it("holds the annotated pod at its 10 Mbit/s in both directions", async () => {
      // Over IPv6 where the pods have it: shaping is per pod, whatever the family.
      const server = pods.a!.ip6 ?? pods.a!.ip;
      const up = await iperf(pods.a!.netns, server, pods.s!.netns, { seconds: 2 });
      const down = await iperf(pods.a!.netns, server, pods.s!.netns, { seconds: 2, reverse: true });
      process.stdout.write(`CRI template ${what}: shaped egress ${(up.bps / 1e6).toFixed(2)} Mbit/s, ingress ${(down.bps / 1e6).toFixed(2)} Mbit/s\n`);
      for (const f of [up, down]) {
        expect(f.bps).toBeGreaterThan(0.85 * CAP);
        expect(f.bps).toBeLessThan(1.02 * CAP);
      }
    }, 120_000);

    it("stops and removes the pods, leaving nothing on the node; containerd stops clean", async () => {
      const list = Object.values(pods).map((p) => ({ id: p.id, netnsIno: fs.statSync(p.netns).ino }));
      expect(list.length).toBe(2);
      for (const p of list) {
        await w.ctd.cri.stopPodSandbox(p.id);
        await w.ctd.cri.removePodSandbox(p.id);
      }
      let inv = inventory(w, list);
      for (let i = 0; i < 150 && inv.shims.length + inv.netnsAlive.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        inv = inventory(w, list);
      }
      // ebpf-bandwidth's IFB stays, idle, for the next pod (GC removes it).
      expect(inv).toEqual({ links: [w.bridge, "lo"].sort(), qdiscs: [], nat: [], reservations: [], pins: [], cache: [], netnsFiles: [], netnsAlive: [], shims: [], idleIfb: true });
      expect(await stopWorld(w)).toEqual({ processes: [], mounts: [], cgroups: [] });
    }, 120_000);
  });
}
