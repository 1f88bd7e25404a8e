#!/usr/bin/env node
// ADD/DEL latency of our bridge (host-local in-process) side by side with the Go reference bridge +
// host-local (/usr/lib/cni), and the ADD latency of the 1st and the 200th container on one bridge.
// Ours runs as `tscni install` lays it out, twice: resident (the shim hands calls to the daemon,
// started by the warm-up call) and fallback (TSCNI_NO_DAEMON=1: the shim execs the executable).
// Runs entirely in throwaway namespaces; needs root and `npm run build`.
//   node scripts/bench-bridge.mjs [--iterations 30] [--fill 200] [--shaped 100] [--ipmasq] [--also label=/path/to/tscni ...] [--smoke]
// --shaped N: the bandwidth plugin's ADD/DEL again with N shaped pods already on the node (each
// side's own), as on a busy node; 0 leaves that table out.
// --ipmasq adds "ipMasq": true (iptables backend) to the config; --also benches another build of
// the executable (e.g. the previous commit's) side by side, in the same run. --smoke: 3 iterations
// and a fill of 12 unless given (both tables in a few seconds; for test/integration/benchmarks.test.ts).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SMOKE = process.argv.includes("--smoke");
const ITER = arg("iterations", SMOKE ? 3 : 30);
const FILL = arg("fill", SMOKE ? 12 : 200);
const SHAPED = arg("shaped", SMOKE ? 4 : 100);
const IPMASQ = process.argv.includes("--ipmasq");
const also = process.argv.flatMap((a, i) => (process.argv[i - 1] === "--also" ? [a.split("=")] : []));
const tag = process.pid.toString(36);
const made = [];
const ns = (name) => {
  execFileSync("ip", ["netns", "add", name]);
  made.push(name);
  return `/var/run/netns/${name}`;
};
const cleanup = () => {
  for (const n of made.splice(0)) {
    // A daemon spawned in a node namespace would keep it alive: stop it first.
    const sock = `/run/tscni/tscni-${fs.statSync(`/var/run/netns/${n}`).ino}.sock`;
    if (fs.existsSync(sock)) spawnSync(path.join(root, "dist/tscni"), ["daemon", "stop", "--socket", sock]);
    spawnSync("ip", ["netns", "delete", n]);
  }
};
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

if (!fs.existsSync(path.join(root, "dist/tscni"))) {
  console.error("dist/tscni missing: run `npm run build` first");
  process.exit(1);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-bridge-"));
// ebpf-bandwidth's pins: a private bpffs, dropped at the end.
const pins = path.join(tmp, "bpf");
fs.mkdirSync(pins);
execFileSync("mount", ["-t", "bpf", "bpf", pins]);
process.on("exit", () => {
  spawnSync("umount", ["-l", pins]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function binDir(side, exe) {
  const dir = path.join(tmp, `bin-${side}`);
  fs.mkdirSync(dir);
  if (exe) {
    // tscni's own layout: the executable and its shim under each name (host-local then runs in-process).
    execFileSync(exe, ["install", "--dir", dir], { stdio: "ignore", env: { PATH: process.env.PATH } });
  } else {
    for (const p of ["bridge", "host-local", "bandwidth"]) fs.symlinkSync(path.join("/usr/lib/cni", p), path.join(dir, p));
  }
  return dir;
}

function config(side, name, subnet, bridge) {
  return JSON.stringify({
    cniVersion: "1.0.0", name, type: "bridge", bridge: `${bridge}${side[0]}${tag}`.slice(0, 15), isDefaultGateway: true, ...(IPMASQ ? { ipMasq: true } : {}),
    ipam: { type: "host-local", dataDir: path.join(tmp, `data-${side}`), subnet },
  });
}

function exec(node, bin, command, stdin, containerID, netns, extraEnv = {}, out) {
  // A runtime's environment, without this machine's NODE_EXTRA_CA_CERTS (+90 ms per Node start).
  const env = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: containerID, CNI_IFNAME: "eth0", CNI_PATH: path.dirname(bin), CNI_NETNS: netns, ...extraEnv };
  const t0 = process.hrtime.bigint();
  const r = spawnSync("nsenter", [`--net=/var/run/netns/${node}`, bin], { input: stdin, env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${bin} ${command} failed: ${r.stdout}${r.stderr}`);
  if (out) out.stdout = r.stdout;
  return ms;
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const p10 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.1)];
const p90 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)];
const f = (x) => x.toFixed(1);

// nsenter's own start-up is part of every number; measure it to report it.
const baseNode = `bbase${tag}`;
ns(baseNode);
const base = median(Array.from({ length: 20 }, () => {
  const t0 = process.hrtime.bigint();
  spawnSync("nsenter", [`--net=/var/run/netns/${baseNode}`, "/bin/true"]);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}));

const sides = [
  { side: "reference", name: "Go reference 1.1.1 (bridge + host-local)" },
  { side: "ours", name: "tscni bridge, resident daemon (shim → daemon)", exe: path.join(root, "dist/tscni") },
  { side: "fallback", name: "tscni bridge, fallback (shim → exec tscni)", exe: path.join(root, "dist/tscni"), env: { TSCNI_NO_DAEMON: "1" } },
  ...also.map(([label, exe], i) => ({ side: `also${i}`, name: label, exe: path.resolve(exe) })),
];
// The sides run interleaved (each iteration: every side's ADD and DEL in turn), so a colleague's
// build starting halfway through slows every side alike instead of one.
const runs = sides.map((s) => {
  const bins = binDir(s.side, s.exe);
  const node = `bn${s.side[0]}${s.side.slice(-1)}${tag}`;
  ns(node);
  const bw = path.join(bins, s.exe ? "ebpf-bandwidth" : "bandwidth");
  return { ...s, bin: path.join(bins, "bridge"), bw, node, adds: [], dels: [], bwAdds: [], bwDels: [], clsAdds: [], clsDels: [], fill: [], conf: config(s.side, "benchnet", "10.200.0.0/16", "bb"), fillConf: config(s.side, "fillnet", "10.201.0.0/16", "bf") };
});
const ctrName = (r, kind, i) => `${kind}${r.side[0]}${r.side.slice(-1)}${tag}${i}`;
// Warm-up: create the bridge and page the binary in.
for (const r of runs) exec(r.node, r.bin, "ADD", r.conf, "warm", ns(ctrName(r, "bw", "")), r.env);
// The daemon the warm-up call spawned is up before the first timed call.
for (const r of runs) for (let i = 0; i < 100 && r.exe && !r.env && !fs.existsSync(`/run/tscni/tscni-${fs.statSync(`/var/run/netns/${r.node}`).ino}.sock`); i++) spawnSync("sleep", ["0.05"]);
const versions = Object.fromEntries(runs.map((r) => [r.side, Array.from({ length: ITER }, () => exec(r.node, r.bin, "VERSION", "", "", "", r.env))]));
for (let i = 0; i < ITER; i++) {
  for (const r of runs) {
    const ctr = ns(ctrName(r, "bc", i));
    const out = {};
    r.adds.push(exec(r.node, r.bin, "ADD", r.conf, `c${i}`, ctr, r.env, out));
    // The bandwidth plugin chained after it (the reference's `bandwidth`, or ebpf-bandwidth).
    const bwConf = JSON.stringify({ cniVersion: "1.0.0", name: "benchnet", type: path.basename(r.bw), pinRoot: pins, ingressRate: 10_000_000, ingressBurst: 1 << 20, egressRate: 10_000_000, egressBurst: 1 << 20, prevResult: JSON.parse(out.stdout) });
    r.bwAdds.push(exec(r.node, r.bw, "ADD", bwConf, `c${i}`, ctr, r.env));
    r.bwDels.push(exec(r.node, r.bw, "DEL", bwConf, `c${i}`, ctr, r.env));
    if (r.exe) {
      // TCX links (on request), which pay two RCU grace periods under RTNL per verb; the default is clsact.
      const cls = JSON.stringify({ ...JSON.parse(bwConf), attach: "tcx" });
      r.clsAdds.push(exec(r.node, r.bw, "ADD", cls, `c${i}`, ctr, r.env));
      r.clsDels.push(exec(r.node, r.bw, "DEL", cls, `c${i}`, ctr, r.env));
    }
    r.dels.push(exec(r.node, r.bin, "DEL", r.conf, `c${i}`, ctr, r.env));
  }
}
// The bandwidth plugin with SHAPED pods already shaped on the node (bridge + bandwidth ADD each).
const bwConfOf = (r, prev, id) => JSON.stringify({ cniVersion: "1.0.0", name: "benchnet", type: path.basename(r.bw), pinRoot: pins, ingressRate: 10_000_000, ingressBurst: 1 << 20, egressRate: 10_000_000, egressBurst: 1 << 20, prevResult: prev });
if (SHAPED > 0) {
  for (let j = 0; j < SHAPED; j++) {
    for (const r of runs) {
      const id = `s${r.side}${j}`;
      const out = {};
      const ctr = ns(ctrName(r, "bs", j));
      exec(r.node, r.bin, "ADD", r.conf, id, ctr, r.env, out);
      exec(r.node, r.bw, "ADD", bwConfOf(r, JSON.parse(out.stdout), id), id, ctr, r.env);
    }
  }
  for (let i = 0; i < ITER; i++) {
    for (const r of runs) {
      const id = `t${r.side}${i}`;
      const ctr = ns(ctrName(r, "bt", i));
      const out = {};
      exec(r.node, r.bin, "ADD", r.conf, id, ctr, r.env, out);
      const bwConf = bwConfOf(r, JSON.parse(out.stdout), id);
      (r.shapedAdds ??= []).push(exec(r.node, r.bw, "ADD", bwConf, id, ctr, r.env));
      (r.shapedDels ??= []).push(exec(r.node, r.bw, "DEL", bwConf, id, ctr, r.env));
      exec(r.node, r.bin, "DEL", r.conf, id, ctr, r.env);
    }
  }
}
// 1st and FILL-th container on one fresh bridge per side.
for (let i = 0; i < FILL; i++) {
  for (const r of runs) r.fill.push(exec(r.node, r.bin, "ADD", r.fillConf, `f${i}`, ns(ctrName(r, "bf", i)), r.env));
}
cleanup();
const rows = runs.map((r) => ({ name: r.name, version: median(versions[r.side]), bwAdd: median(r.bwAdds), bwAddP90: p90(r.bwAdds), bwDel: median(r.bwDels), bwDelP90: p90(r.bwDels), cls: r.clsAdds.length ? [median(r.clsAdds), p90(r.clsAdds), median(r.clsDels), p90(r.clsDels)] : undefined, add: median(r.adds), addP10: p10(r.adds), addP90: p90(r.adds), del: median(r.dels), delP10: p10(r.dels), delP90: p90(r.dels), first: r.fill[0], last: r.fill[FILL - 1], lastMed: median(r.fill.slice(-10)) }));

console.log(`bridge ADD/DEL latency, ms (median of ${ITER}; p10, p90), cniVersion 1.0.0, host-local, IPv4, isDefaultGateway${IPMASQ ? ", ipMasq (iptables)" : ""};`);
console.log(`each number includes nsenter's own start-up (${f(base)} ms median). Node ${process.version}, ${os.cpus().length} vCPU, kernel ${os.release()}.`);
console.log("");
console.log(`| plugin | VERSION median | ADD median | ADD p10 | ADD p90 | DEL median | DEL p10 | DEL p90 | ADD 1st container | ADD ${FILL}th container | ADD median of last 10 |`);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.name} | ${f(r.version)} | ${f(r.add)} | ${f(r.addP10)} | ${f(r.addP90)} | ${f(r.del)} | ${f(r.delP10)} | ${f(r.delP90)} | ${f(r.first)} | ${f(r.last)} | ${f(r.lastMed)} |`);
}
console.log("");
console.log(`bandwidth plugin chained after the bridge (reference \`bandwidth\` / ebpf-bandwidth, 10 Mbit/s both ways), ms (median of ${ITER}; p90):`);
console.log("");
console.log("| plugin | ADD median | ADD p90 | DEL median | DEL p90 |");
console.log("|---|---|---|---|---|");
for (const r of rows) {
  const name = r.name.replace("(bridge + host-local)", "bandwidth").replace("tscni bridge", "tscni ebpf-bandwidth");
  console.log(`| ${name} | ${f(r.bwAdd)} | ${f(r.bwAddP90)} | ${f(r.bwDel)} | ${f(r.bwDelP90)} |`);
  if (r.cls) console.log(`| ${name.replace("tscni ebpf-bandwidth", "tscni ebpf-bandwidth \"attach\": \"tcx\"")} | ${r.cls.map(f).join(" | ")} |`);
}
if (SHAPED > 0) {
  console.log("");
  console.log(`the same with ${SHAPED} shaped pods already on the node (each side's own; default attach mode), ms (median of ${ITER}; p90):`);
  console.log("");
  console.log("| plugin | ADD median | ADD p90 | DEL median | DEL p90 |");
  console.log("|---|---|---|---|---|");
  for (const r of runs) {
    const name = r.name.replace("(bridge + host-local)", "bandwidth").replace("tscni bridge", "tscni ebpf-bandwidth");
    console.log(`| ${name} | ${f(median(r.shapedAdds))} | ${f(p90(r.shapedAdds))} | ${f(median(r.shapedDels))} | ${f(p90(r.shapedDels))} |`);
  }
}
