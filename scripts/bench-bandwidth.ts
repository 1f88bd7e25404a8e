// Benchmark: ebpf-bandwidth vs the Go reference `bandwidth` plugin, same run, same topology
// (reference bridge + host-local in a throwaway node namespace, two containers, the client's
// attachment capped). For each cap and direction: TCP goodput and wire rate as shares of the cap,
// retransmits, and ping RTT p50/p99 while the flow runs; plus an unreachable cap (datapath cost).
//
//   npm run build && npx tsx scripts/bench-bandwidth.ts [--seconds 5] [--quick] [--caps 10,100] [--compare] [--edt] [--police]
//
//   --caps 10,100   only these caps (Mbit/s), no baseline / containerd / unreachable rows (iterating)
//   --compare       also ebpf-bandwidth with "smallPacketPrio": false (one class per direction)
//   --police        also ebpf-bandwidth with "mode": "police"
//   --burst BITS    burst for every cap (default 524288 = 64 KiB); --max-burst-ms N: our clamp;
//   --queue-ms N    our leaf queue (rate x N ms + 64 KiB)
//   --edt           also ebpf-bandwidth with "mode": "edt" (needs sch_fq: e.g. in the qemu guest,
//                   reliability/qemu/run.sh --cmd "npx tsx scripts/bench-bandwidth.ts --edt ...")
//
// Root only; never touches the root network namespace. Prints a markdown table.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Netns, NsScope as NsScopeT } from "../test/helpers/netns";
import type { Topo } from "../test/integration/ebpf-bandwidth-helpers";

// The topology comes from the integration tests' helpers, written for vitest (CommonJS-style
// `__dirname`); under tsx in this ESM package that name is a free global, so provide it first.
(globalThis as { __dirname?: string }).__dirname = path.resolve(import.meta.dirname, "../test/helpers");
const { NsScope } = await import("../test/helpers/netns");
const { topology } = await import("../test/integration/ebpf-bandwidth-helpers");

const argv = process.argv.slice(2);
const SECONDS = Number(argv[argv.indexOf("--seconds") + 1]) || 5;
const QUICK = argv.includes("--quick");
const COMPARE = argv.includes("--compare");
const EDT = argv.includes("--edt");
const POLICE = argv.includes("--police");
const CAPS = argv.includes("--caps") ? new Set(String(argv[argv.indexOf("--caps") + 1]).split(",").map(Number)) : undefined;
const MBIT = 1_000_000;
// 64 KiB in bits by default: a burst that lets the reference's TBF shape properly.
const BURST = argv.includes("--burst") ? Number(argv[argv.indexOf("--burst") + 1]) : 524_288;
const MAX_BURST_MS = argv.includes("--max-burst-ms") ? Number(argv[argv.indexOf("--max-burst-ms") + 1]) : undefined;
const QUEUE_MS = argv.includes("--queue-ms") ? Number(argv[argv.indexOf("--queue-ms") + 1]) : undefined;
const CONTAINERD_BURST = 2 ** 32 - 1;

interface Run {
  mbps: number;
  /** Goodput in Ethernet frames: × (MSS + 66) / MSS (14 Ethernet, 20 IP, 32 TCP with timestamps). */
  wireMbps: number;
  retrans: number;
  p50: number;
  p99: number;
  loss: number;
}

function runIn(ns: Netns, cmd: string, args: string[], outFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const out = outFile ? fs.openSync(outFile, "w") : "pipe";
    const p = spawn("ip", ["netns", "exec", ns.name, cmd, ...args], { stdio: ["ignore", out, "pipe"] });
    let stdout = "";
    p.stdout?.on("data", (d) => (stdout += d));
    p.on("error", reject);
    p.on("close", () => {
      if (typeof out === "number") fs.closeSync(out);
      resolve(outFile ? fs.readFileSync(outFile, "utf8") : stdout);
    });
  });
}

const pct = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

let port = 5300;
async function measure(t: Topo, reverse: boolean): Promise<Run> {
  const [client, server] = [t.ctrs[0]!, t.ctrs[1]!];
  port += 1;
  const srv = spawn("ip", ["netns", "exec", server.ns.name, "iperf3", "-s", "-1", "-p", String(port)], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 300));
  const tmp = path.join(os.tmpdir(), `tscni-bench-ping-${process.pid}`);
  const count = Math.floor((SECONDS - 1.5) * 50);
  const iperf = runIn(client.ns, "iperf3", ["-c", server.ip, "-p", String(port), "-t", String(SECONDS), "-O", "1", "-J", ...(reverse ? ["-R"] : [])]);
  await new Promise((r) => setTimeout(r, 1200)); // ping once the flow has filled its queue
  const ping = runIn(client.ns, "ping", ["-n", "-i", "0.02", "-c", String(count), "-W", "1", server.ip], tmp);
  const [out, pout] = await Promise.all([iperf, ping]);
  srv.kill();
  fs.rmSync(tmp, { force: true });
  const j = JSON.parse(out);
  const mss = Number(j.start?.tcp_mss_default) || 1448;
  const rtts = [...pout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return {
    mbps: j.end.sum_received.bits_per_second / 1e6,
    // Interface counters cannot give this: veth counts a GSO packet's headers once.
    wireMbps: (j.end.sum_received.bits_per_second / 1e6) * ((mss + 66) / mss),
    retrans: j.end.sum_sent.retransmits ?? 0,
    p50: pct(rtts, 0.5), p99: pct(rtts, 0.99), loss: 1 - rtts.length / count,
  };
}

const caps = (mbit: number, burst = BURST) => ({ ingressRate: mbit * MBIT, ingressBurst: burst, egressRate: mbit * MBIT, egressBurst: burst });

interface Case {
  label: string;
  capMbit?: number;
  caps?: Record<string, number>;
}

const allCases: Case[] = [
  { label: "10 Mbit", capMbit: 10, caps: caps(10) },
  { label: "100 Mbit", capMbit: 100, caps: caps(100) },
  { label: "1 Gbit", capMbit: 1000, caps: caps(1000) },
  ...(QUICK ? [] : [{ label: "10 Mbit, containerd burst 2^32-1", capMbit: 10, caps: caps(10, CONTAINERD_BURST) }]),
  { label: "unreachable (100 Gbit)", caps: caps(100_000) },
];
const cases = CAPS ? allCases.filter((c) => c.capMbit !== undefined && CAPS.has(c.capMbit) && !c.label.includes(",")) : allCases;
const plugins: [name: string, type: string, extra: Record<string, unknown>][] = [
  ["ebpf-bandwidth", "ebpf-bandwidth", {}],
  ...(COMPARE ? [["ebpf-bandwidth, one class", "ebpf-bandwidth", { smallPacketPrio: false }] as [string, string, Record<string, unknown>]] : []),
  ...(EDT ? [["ebpf-bandwidth, edt", "ebpf-bandwidth", { mode: "edt" }] as [string, string, Record<string, unknown>]] : []),
  ...(POLICE ? [["ebpf-bandwidth, police", "ebpf-bandwidth", { mode: "police" }] as [string, string, Record<string, unknown>]] : []),
  ["reference bandwidth", "bandwidth", {}],
];

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "–");

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root");
  const scope: NsScopeT = new NsScope();
  process.on("SIGINT", () => {
    scope.cleanup();
    process.exit(130);
  });
  const rows: string[] = [];
  const t0 = Date.now();
  try {
    // Baseline: no shaping at all.
    if (!CAPS) {
      const t = topology(scope, { bridge: "reference" });
      for (const reverse of [false, true]) {
        const r = await measure(t, reverse);
        rows.push(`| none (no plugin) | ${reverse ? "to container" : "from container"} | – | ${f(r.mbps)} | – | ${f(r.wireMbps)} | – | ${r.retrans} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(100 * r.loss, 0)} % |`);
      }
      scope.cleanup();
    }
    for (const c of cases) {
      for (const [name, type, extra] of plugins) {
        const ours = type !== "ebpf-bandwidth" ? {} : { ...(MAX_BURST_MS !== undefined ? { maxBurstMs: MAX_BURST_MS } : {}), ...(QUEUE_MS !== undefined ? { queueMs: QUEUE_MS } : {}) };
        const t = topology(scope, { bridge: "reference", caps: c.caps, type, extra: { ...extra, ...ours } });
        for (const reverse of [false, true]) {
          const r = await measure(t, reverse);
          const share = (mbps: number) => (c.capMbit ? `${f((100 * mbps) / c.capMbit)} %` : "–");
          rows.push(`| ${c.label} | ${reverse ? "to container" : "from container"} | ${name} | ${f(r.mbps)} | ${share(r.mbps)} | ${f(r.wireMbps)} | ${share(r.wireMbps)} | ${r.retrans} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(100 * r.loss, 0)} % |`);
          process.stderr.write(`${rows[rows.length - 1]}\n`);
        }
        scope.cleanup();
      }
    }
  } finally {
    scope.cleanup();
  }
  console.log(`\nTCP (iperf3 ${SECONDS} s, first second omitted) between two containers on one bridge; ping every 20 ms during the flow.`);
  console.log(`kernel ${os.release()}, ${os.cpus().length} CPUs, burst ${BURST} bits unless noted; took ${Math.round((Date.now() - t0) / 1000)} s\n`);
  console.log("Goodput = iperf3's received payload; wire = the same in Ethernet frames (goodput × (MSS + 66) / MSS, MSS from iperf3): what both plugins limit.\n");
  console.log("| cap | direction | plugin | goodput Mbit/s | goodput share | wire Mbit/s | wire share | retransmits | ping p50 ms | ping p99 ms | ping loss |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
