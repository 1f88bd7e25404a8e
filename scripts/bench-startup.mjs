#!/usr/bin/env node
// Start-up cost of the CNI path: time `CNI_COMMAND=VERSION` of the built executable (called by a
// plugin name, as runtimes do) side by side with `node -e 0` and the Go reference plugins.
// Prints a markdown table. Usage: node scripts/bench-startup.mjs [runs] [--smoke]
// --smoke: 3 runs each (the whole table in a few seconds; for test/integration/benchmarks.test.ts).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SMOKE = process.argv.includes("--smoke");
const runs = Number(process.argv.slice(2).find((a) => a !== "--smoke") ?? (SMOKE ? 3 : 40));
const dist = path.join(root, "dist/tscni");
if (!fs.existsSync(dist)) {
  console.error("dist/tscni missing: run npm run build");
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-bench-"));
for (const n of ["bridge", "host-local", "ebpf-bandwidth"]) fs.linkSync(dist, path.join(dir, n));

const input = '{"cniVersion":"1.1.0"}';
const env = { CNI_COMMAND: "VERSION" };
const cases = [
  ["`node -e 0` (floor for any Node program)", process.execPath, ["-e", "0"]],
  ["tscni as host-local (VERSION)", path.join(dir, "host-local"), []],
  ["tscni as bridge (VERSION)", path.join(dir, "bridge"), []],
  ["tscni as ebpf-bandwidth (VERSION)", path.join(dir, "ebpf-bandwidth"), []],
  ["tscni bundle under plain node, no code cache", process.execPath, [path.join(root, "build/tscni.cjs"), "plugin", "host-local"]],
  ["Go reference host-local (VERSION)", "/usr/lib/cni/host-local", []],
  ["Go reference bridge (VERSION)", "/usr/lib/cni/bridge", []],
  ["Go reference bandwidth (VERSION)", "/usr/lib/cni/bandwidth", []],
];

function time(bin, args) {
  const samples = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(bin, args, { input, env, stdio: ["pipe", "ignore", "ignore"] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${bin} exited ${r.status}`);
    if (i >= 3) samples.push(ms); // the first runs warm the page cache
  }
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { p50: q(0.5), p90: q(0.9) };
}

console.log(`Start-up: ${runs} runs each, ${os.cpus().length} CPUs, ${os.release()}, node ${process.version}\n`);
console.log("| command | p50 ms | p90 ms |");
console.log("|---|---:|---:|");
for (const [label, bin, args] of cases) {
  if (!fs.existsSync(bin)) {
    console.log(`| ${label} | n/a | n/a |`);
    continue;
  }
  const { p50, p90 } = time(bin, args);
  console.log(`| ${label} | ${p50.toFixed(1)} | ${p90.toFixed(1)} |`);
}
fs.rmSync(dir, { recursive: true, force: true });
