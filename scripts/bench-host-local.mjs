#!/usr/bin/env node
// host-local ADD and DEL latency, ours (dist/tscni called as host-local) side by side with the
// Go reference (/usr/lib/cni/host-local), on stores already holding 0, 1,000 and 10,000
// reservations (written directly in the reference's format). Calls are interleaved so machine
// noise hits both alike. Prints a markdown table. A benchmark, not a test: nothing is asserted.
// Usage: node scripts/bench-host-local.mjs [runs-per-cell] [--smoke]   (≈ 1–2 minutes at the default 25)
// --smoke: 3 runs per cell, every cell (a few seconds; for test/integration/benchmarks.test.ts).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SMOKE = process.argv.includes("--smoke");
const runs = Number(process.argv.slice(2).find((a) => a !== "--smoke") ?? (SMOKE ? 3 : 25));
const dist = path.join(root, "dist/tscni");
const REF = "/usr/lib/cni/host-local";
for (const f of [dist, REF]) if (!fs.existsSync(f)) throw new Error(`${f} missing (npm run build / apt install containernetworking-plugins)`);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-bench-hl-"));
const ours = path.join(work, "host-local");
fs.linkSync(dist, ours);

const ip = (i) => `10.99.${(i >> 8) & 255}.${i & 255}`; // i ≥ 2 keeps clear of network and gateway
const config = (dataDir) => JSON.stringify({
  cniVersion: "1.0.0", name: "bench", type: "bridge",
  ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.99.0.0/16" }]] },
});

function populate(dataDir, n) {
  const dir = path.join(dataDir, "bench");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "lock"), "");
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, ip(i + 2)), `pre${i}\r\neth0`);
  if (n > 0) fs.writeFileSync(path.join(dir, "last_reserved_ip.0"), ip(n + 1));
}

function call(bin, command, dataDir, id) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(bin, [], {
    input: config(dataDir),
    env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: work },
    encoding: "utf8",
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${bin} ${command} ${id}: ${r.stdout}${r.stderr}`);
  return ms;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { med: q(0.5), p90: q(0.9) };
};
const f1 = (x) => x.toFixed(1);

const rows = [];
for (const n of [0, 1000, 10000]) {
  const dOurs = path.join(work, `ours-${n}`);
  const dRef = path.join(work, `ref-${n}`);
  populate(dOurs, n);
  populate(dRef, n);
  // One warm-up pair each (page cache; for ours, the first call after the direct writes rescans
  // the directory and writes its cache — measured separately below).
  call(ours, "ADD", dOurs, "warm");
  call(ours, "DEL", dOurs, "warm");
  call(REF, "ADD", dRef, "warm");
  call(REF, "DEL", dRef, "warm");
  const t = { oursAdd: [], refAdd: [], oursDel: [], refDel: [], rescan: [] };
  for (let i = 0; i < runs; i++) {
    t.oursAdd.push(call(ours, "ADD", dOurs, `c${i}`));
    t.refAdd.push(call(REF, "ADD", dRef, `c${i}`));
  }
  for (let i = 0; i < runs; i++) {
    t.oursDel.push(call(ours, "DEL", dOurs, `c${i}`));
    t.refDel.push(call(REF, "DEL", dRef, `c${i}`));
  }
  // The store changed behind our back (e.g. the reference ran): the next call rescans.
  for (let i = 0; i < Math.min(runs, 8); i++) {
    fs.writeFileSync(path.join(dOurs, "bench", ip(60000 + i)), `foreign${i}\r\neth0`);
    t.rescan.push(call(ours, "DEL", dOurs, `foreign${i}`));
  }
  for (const [op, a, b] of [["ADD", t.oursAdd, t.refAdd], ["DEL", t.oursDel, t.refDel]]) {
    const [x, y] = [stats(a), stats(b)];
    rows.push(`| ${n.toLocaleString("en")} | ${op} | ${f1(x.med)} | ${f1(x.p90)} | ${f1(y.med)} | ${f1(y.p90)} |`);
  }
  const r = stats(t.rescan);
  rows.push(`| ${n.toLocaleString("en")} | DEL after a foreign change (ours rescans) | ${f1(r.med)} | ${f1(r.p90)} | – | – |`);
}

console.log(`host-local latency in ms, ${runs} calls per cell (median / p90), ${os.cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}\n`);
console.log("| existing allocations | operation | ours median | ours p90 | reference median | reference p90 |");
console.log("|---:|---|---:|---:|---:|---:|");
for (const r of rows) console.log(r);
fs.rmSync(work, { recursive: true, force: true });
