// The demo: networks real namespaces through bridge + host-local + ebpf-bandwidth with the built
// executable installed into a private CNI bin dir, shows addresses, pings, measures a shaped and an
// unshaped transfer, and removes everything. Nothing is changed in the root network namespace.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { addNetworkList, ChainError, checkNetworkList, type Conflist, delNetworkList } from "./chain";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist/tscni");
const tag = `${process.pid.toString(36)}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-demo-"));
const binDir = path.join(work, "bin");
const node = `tscni-demo-${tag}`;
const containers = ["c1", "c2", "c3"].map((c) => ({ name: c, ns: `tscni-demo-${tag}-${c}`, id: `demo-${tag}-${c}` }));
const SHAPED_RATE = 20_000_000; // bit/s, for c3
// ebpf-bandwidth's default pin root; removed at the end if this demo is what created it.
const PIN_ROOT = "/sys/fs/bpf/tscni";
const pinRootExisted = fs.existsSync(PIN_ROOT);

const say = (s = "") => process.stdout.write(s + "\n");
const ip = (...args: string[]) => execFileSync("ip", args, { encoding: "utf8" });
const inNs = (ns: string, cmd: string, args: string[]) => spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { encoding: "utf8" });

const conflist: Conflist = {
  cniVersion: "1.1.0",
  name: "demo",
  plugins: [
    {
      type: "bridge",
      bridge: "demo0",
      isGateway: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.99.0.0/24" }], [{ subnet: "fd99::/64" }]],
        routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
        dataDir: path.join(work, "ipam"),
      },
    },
    { type: "ebpf-bandwidth", capabilities: { bandwidth: true } },
  ],
};

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  rows.forEach((r, n) => {
    say("  " + r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    if (n === 0) say("  " + widths.map((w) => "-".repeat(w)).join("  "));
  });
}

function iperf(from: string, serverAddr: string, reverse: boolean): string {
  const r = inNs(from, "iperf3", ["-c", serverAddr, "-t", "3", "-J", ...(reverse ? ["-R"] : [])]);
  try {
    const j = JSON.parse(r.stdout);
    return `${(j.end.sum_received.bits_per_second / 1e6).toFixed(1)} Mbit/s`;
  } catch {
    return `failed (${(r.stderr || r.stdout).trim().split("\n")[0]})`;
  }
}

async function main(): Promise<number> {
  if (!fs.existsSync(dist)) throw new Error("dist/tscni missing: run scripts/demo.sh (it builds first)");
  say("tscni demo — bridge + host-local + ebpf-bandwidth on throwaway network namespaces\n");
  execFileSync(dist, ["install", "--dir", binDir], { stdio: "ignore" });
  say(`1. installed ${dist} into ${binDir}: ${fs.readdirSync(binDir).join(", ")}`);
  say("   (tscni is the executable; the plugin names are one small static shim that hands each call");
  say("   to a resident `tscni daemon`, started by the first call, or execs tscni when there is none)");

  ip("netns", "add", node);
  ip("-n", node, "link", "set", "lo", "up");
  for (const c of containers) {
    ip("netns", "add", c.ns);
    ip("-n", c.ns, "link", "set", "lo", "up");
  }
  say(`\n2. created node namespace ${node} and containers ${containers.map((c) => c.ns).join(", ")}`);
  for (const name of ["bridge", "host-local", "ebpf-bandwidth"]) {
    const v = spawnSync("nsenter", [`--net=/var/run/netns/${node}`, path.join(binDir, name)], { env: { PATH: process.env.PATH, CNI_COMMAND: "VERSION" }, input: "{}", encoding: "utf8" });
    say(`   ${name.padEnd(15)} VERSION -> supports ${JSON.parse(v.stdout).supportedVersions.join(", ")}`);
  }

  const opts = { binDir, nodeNetns: node };
  const results = new Map<string, any>();
  const addMs = new Map<string, number>();
  for (const c of containers) {
    // The burst containerd sends by default (2^32-1 bits): the plugin clamps it to something that shapes.
    const burst = 4294967295;
    const caps = c.name === "c3" ? { bandwidth: { ingressRate: SHAPED_RATE, ingressBurst: burst, egressRate: SHAPED_RATE, egressBurst: burst } } : {};
    const att = { containerID: c.id, netns: `/var/run/netns/${c.ns}`, ifname: "eth0", capabilityArgs: caps };
    try {
      const t0 = performance.now();
      results.set(c.name, addNetworkList(opts, conflist, att));
      addMs.set(c.name, performance.now() - t0);
    } catch (e) {
      if (e instanceof ChainError && /not implemented/.test(String(e.cniError?.msg))) {
        say(`\n   ${e.plugin} is not implemented in this build yet: ${e.message}`);
        say("   (the demo stops here; everything created is removed)");
        return 0;
      }
      throw e;
    }
  }
  say("\n3. ADD through the chain (bridge -> host-local -> ebpf-bandwidth):\n");
  const rows = [["container", "interface", "IPv4", "IPv6", "MAC", "shaping", "chain ADD"]];
  for (const c of containers) {
    const r = results.get(c.name);
    const ips: string[] = (r.ips ?? []).map((i: any) => i.address);
    const itf = (r.interfaces ?? []).find((i: any) => i.sandbox);
    rows.push([c.name, itf?.name ?? "eth0", ips.find((a) => !a.includes(":")) ?? "-", ips.find((a) => a.includes(":")) ?? "-", itf?.mac ?? "-", c.name === "c3" ? `${SHAPED_RATE / 1e6} Mbit/s both ways` : "none", `${addMs.get(c.name)!.toFixed(0)} ms`]);
  }
  table(rows);
  say(`\n   ${daemonStatus()}`);

  const addr = (c: string, v6 = false) => (results.get(c).ips as any[]).map((i) => i.address.split("/")[0]).find((a: string) => a.includes(":") === v6);
  say("\n4. connectivity:\n");
  const pings: [string, string, string][] = [
    ["c1", "c2", addr("c2")],
    ["c2", "c3", addr("c3")],
    ["c1", "c3", addr("c3", true)],
    ["c3", "gateway", "10.99.0.1"],
  ];
  const prow = [["from", "to", "address", "result"]];
  for (const [from, to, a] of pings) {
    const r = inNs(containers.find((c) => c.name === from)!.ns, "ping", ["-c", "3", "-i", "0.2", "-W", "2", a]);
    const m = /(\d+) received.*\n.*= [\d.]+\/([\d.]+)\//s.exec(r.stdout);
    prow.push([from, to, a, r.status === 0 && m ? `ok, 3/3 replies, avg ${m[2]} ms` : `FAILED`]);
  }
  table(prow);

  say("\n5. TCP throughput with iperf3 (3 s each), server in c1:\n");
  const server = spawn("ip", ["netns", "exec", containers[0]!.ns, "iperf3", "-s", "-1"], { stdio: "ignore" });
  const trow = [["client", "direction", "cap", "measured"]];
  try {
    await new Promise((r) => setTimeout(r, 400));
    trow.push(["c2", "c2 -> c1", "none", iperf(containers[1]!.ns, addr("c1"), false)]);
    spawn("ip", ["netns", "exec", containers[0]!.ns, "iperf3", "-s", "-1"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 400));
    trow.push(["c3", "c3 -> c1 (egress)", `${SHAPED_RATE / 1e6} Mbit/s`, iperf(containers[2]!.ns, addr("c1"), false)]);
    spawn("ip", ["netns", "exec", containers[0]!.ns, "iperf3", "-s", "-1"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 400));
    trow.push(["c3", "c1 -> c3 (ingress)", `${SHAPED_RATE / 1e6} Mbit/s`, iperf(containers[2]!.ns, addr("c1"), true)]);
  } finally {
    server.kill();
  }
  table(trow);

  say("\n6. CHECK, DEL, DEL again (idempotent):");
  for (const c of containers) {
    const att = { containerID: c.id, netns: `/var/run/netns/${c.ns}`, ifname: "eth0" };
    checkNetworkList(opts, conflist, att, results.get(c.name));
    delNetworkList(opts, conflist, att, results.get(c.name));
    delNetworkList(opts, conflist, att, results.get(c.name));
  }
  const leftLinks = ip("-n", node, "-o", "link", "show")
    .split("\n")
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== "lo" && n !== "demo0");
  const reservations = fs.existsSync(path.join(work, "ipam/demo")) ? fs.readdirSync(path.join(work, "ipam/demo")).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  const pinDir = `${PIN_ROOT}/demo`;
  const pins = fs.existsSync(pinDir) ? fs.readdirSync(pinDir) : [];
  say(`   all checks passed; left on the node after DEL: ${leftLinks.length} links besides the bridge${leftLinks.length ? ` (${leftLinks.join(", ")})` : ""}, ` +
    `${reservations.length} reserved addresses, ${pins.length} BPF pin dirs (the bridge stays, as with the reference plugin; ` +
    `ebpf-bandwidth's IFB stays idle for the next pod, and GC removes it)`);
  return 0;
}

/** The node's daemon, as `tscni daemon status` reports it. */
function daemonStatus(): string {
  const r = spawnSync("nsenter", [`--net=/var/run/netns/${node}`, dist, "daemon", "status"], { encoding: "utf8" });
  return r.stdout.trim();
}

function cleanup(): void {
  // The daemon the first call started in the node namespace (it would keep the namespace alive).
  if (fs.existsSync(`/var/run/netns/${node}`)) spawnSync("nsenter", [`--net=/var/run/netns/${node}`, dist, "daemon", "stop"]);
  for (const c of containers) spawnSync("ip", ["netns", "delete", c.ns]);
  spawnSync("ip", ["netns", "delete", node]);
  fs.rmSync(work, { recursive: true, force: true });
  if (!pinRootExisted) {
    try {
      fs.rmdirSync(PIN_ROOT); // only when empty: pins left behind would be a finding, not litter
    } catch {
      /* not empty or not there */
    }
  }
}

main()
  .then((code) => {
    cleanup();
    say("\n7. stopped the node's daemon; removed the namespaces, the bin dir and the IPAM store. Done.");
    process.exitCode = code;
  })
  .catch((e) => {
    cleanup();
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
