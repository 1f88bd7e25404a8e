// Concurrency soak: W workers loop ADD → (CHECK) → DEL for a bounded time over two networks in
// one node namespace:
//   A: bridge + host-local with a deliberately tiny range (2 addresses), so workers contend for
//      addresses and some ADDs must fail cleanly with "no free address" (102);
//   B: bridge + host-local (/24) + ebpf-bandwidth, so ADD/DEL race on the shared IFB and its lock.
// Checked: no address is ever held by two live attachments (and each is really on the container's
// interface), every failure is a well-formed CNI error (exit 1, JSON with a code, no signal, no
// stack trace), and at the end the node equals its baseline: no address reservations, veths,
// IFB, classes, qdiscs, pins or masquerade rules left.
import * as fs from "node:fs";
import { contextOf, warmUp } from "./badinput";
import { validConfig } from "./corpus";
import { HOST_LOCAL_LOOSE, diffSnapshots } from "./lib/snapshot";
import { type World, cniEnv, createWorld, runPlugin } from "./lib/world";

export interface SoakReport {
  seconds: number;
  workers: number;
  /** Plugin executions (each ADD/CHECK/DEL of each plugin in a chain counts once). */
  operations: number;
  attachments: number;
  byVerb: Record<string, number>;
  /** Clean CNI errors by code. */
  errors: Record<string, number>;
  /** Failures that were not clean CNI errors, duplicate addresses, DEL failures. */
  violations: string[];
  leaks: string[];
}

interface Net {
  label: string;
  name: string;
  chain: { type: string; conf: Record<string, any> }[];
}

export async function soak(o: { seconds: number; workers: number; log?: (s: string) => void }): Promise<SoakReport> {
  const w: World = createWorld();
  const report: SoakReport = { seconds: o.seconds, workers: o.workers, operations: 0, attachments: 0, byVerb: {}, errors: {}, violations: [], leaks: [] };
  try {
    await warmUp(w); // network A's bridge exists, as on a busy node
    const ctx = contextOf(w);
    const idx = Number(w.subnet.split(".")[1]);
    const aBridge = validConfig("bridge", ctx);
    aBridge.ipam.ranges = [[{ subnet: w.subnet, rangeStart: w.subnet.replace(/0\/24$/, "10"), rangeEnd: w.subnet.replace(/0\/24$/, "11") }]];
    const bName = `${w.network}b`;
    const bSubnet = `10.${idx}.1.0/24`;
    const bBridge: Record<string, any> = { ...validConfig("bridge", { ...ctx, network: bName }), bridge: `${w.bridge}b`.slice(-15) };
    bBridge.ipam = { type: "host-local", dataDir: w.dataDir, ranges: [[{ subnet: bSubnet }]] };
    const bw = validConfig("ebpf-bandwidth", { ...ctx, network: bName });
    delete bw.prevResult;
    const nets: Net[] = [
      { label: "A", name: w.network, chain: [{ type: "bridge", conf: aBridge }] },
      { label: "B", name: bName, chain: [{ type: "bridge", conf: bBridge }, { type: "ebpf-bandwidth", conf: bw }] },
    ];
    // Warm B too, its whole chain, so its bridge, store, pin root and ebpf-bandwidth's shared IFB
    // (kept idle after its last pod, for the next one) are part of the baseline.
    {
      const ns = w.container();
      const a = { containerID: "soak-warm", netns: ns.path };
      const r = await runPlugin(w, "bridge", cniEnv(w, "ADD", a), JSON.stringify(bBridge));
      if (r.code !== 0) throw new Error(`warm B: ${r.stdout}`);
      const shaped = { ...bw, prevResult: JSON.parse(r.stdout) };
      const s = await runPlugin(w, "ebpf-bandwidth", cniEnv(w, "ADD", a), JSON.stringify(shaped));
      if (s.code !== 0) throw new Error(`warm B, ebpf-bandwidth: ${s.stdout}`);
      await runPlugin(w, "ebpf-bandwidth", cniEnv(w, "DEL", a), JSON.stringify(shaped));
      await runPlugin(w, "bridge", cniEnv(w, "DEL", a), JSON.stringify(bBridge));
      w.dropContainer(ns);
    }
    const base = await w.settled();

    const live = new Map<string, string>(); // ip → owner
    const deadline = Date.now() + o.seconds * 1000;
    const exec = async (type: string, verb: string, conf: Record<string, any>, a: { containerID: string; netns: string }) => {
      report.operations++;
      report.byVerb[`${type} ${verb}`] = (report.byVerb[`${type} ${verb}`] ?? 0) + 1;
      const r = await runPlugin(w, type, cniEnv(w, verb, a), JSON.stringify(conf));
      if (r.code === 0) return { ok: true as const, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
      let j: any;
      try {
        j = JSON.parse(r.stdout);
      } catch {
        /* reported below */
      }
      const clean = r.code === 1 && j && typeof j.code === "number" && typeof j.msg === "string" && !/\n\s+at .+:\d+/.test(r.stdout + r.stderr);
      if (!clean) report.violations.push(`${type} ${verb} ${a.containerID}: not a clean CNI error (exit ${r.code ?? r.signal}): ${(r.stdout + r.stderr).slice(0, 300)}`);
      else report.errors[`${type} ${verb} ${j.code}`] = (report.errors[`${type} ${verb} ${j.code}`] ?? 0) + 1;
      return { ok: false as const, code: j?.code as number | undefined, msg: String(j?.msg ?? "") };
    };

    const worker = async (wi: number) => {
      const ns = w.container();
      let n = 0;
      while (Date.now() < deadline) {
        n++;
        const net = nets[(wi + n) % 2]!;
        const a = { containerID: `soak-${wi}-${n}`, netns: ns.path };
        let prev: any;
        let added = true;
        for (const p of net.chain) {
          const r = await exec(p.type, "ADD", prev ? { ...p.conf, prevResult: prev } : p.conf, a);
          if (!r.ok) {
            added = false;
            break;
          }
          prev = r.json;
        }
        const mine: string[] = [];
        if (added) {
          report.attachments++;
          for (const ip of (prev?.ips ?? []) as { address: string }[]) {
            const addr = ip.address.split("/")[0]!;
            const holder = live.get(addr);
            if (holder) report.violations.push(`duplicate address ${addr}: ${a.containerID} and ${holder}`);
            live.set(addr, a.containerID);
            mine.push(addr);
          }
          // The address is really on the container's interface.
          const have = ns.run("ip", ["-j", "addr", "show", "eth0"], { allowFail: true }).stdout;
          for (const addr of mine) if (!have.includes(`"${addr}"`)) report.violations.push(`${addr} of ${a.containerID} is not on its eth0`);
          if (n % 3 === 0) for (const p of net.chain) await exec(p.type, "CHECK", { ...p.conf, prevResult: prev }, a);
        }
        // As libcni: DEL in reverse order after success or failure; DEL must always succeed.
        for (const addr of mine) live.delete(addr);
        for (const p of [...net.chain].reverse()) {
          const r = await exec(p.type, "DEL", added ? { ...p.conf, prevResult: prev } : p.conf, a);
          if (!r.ok) report.violations.push(`${p.type} DEL ${a.containerID} failed: ${r.code} ${r.msg}`);
        }
      }
      w.dropContainer(ns);
    };
    const started = Date.now();
    const ticker = setInterval(() => o.log?.(`soak: ${Math.round((Date.now() - started) / 1000)} s, ${report.operations} operations, ${report.attachments} attachments, ${Object.values(report.errors).reduce((x, y) => x + y, 0)} clean errors, ${report.violations.length} violations`), 10_000);
    try {
      await Promise.all(Array.from({ length: o.workers }, (_, i) => worker(i)));
    } finally {
      clearInterval(ticker);
    }
    report.leaks = diffSnapshots(base, await w.settled(), { loose: HOST_LOCAL_LOOSE });
    return report;
  } finally {
    w.dispose();
  }
}

// CLI: npx tsx reliability/soak.ts [--seconds 300] [--workers 6] [--json out]
if (process.argv[1]?.endsWith("soak.ts")) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const r = await soak({ seconds: Number(arg("--seconds") ?? 300), workers: Number(arg("--workers") ?? 6), log: (s) => console.error(s) });
  console.log(`soak: ${r.workers} workers for ${r.seconds} s over 2 networks: ${r.operations} plugin operations, ${r.attachments} successful attachments`);
  console.log(`operations: ${JSON.stringify(r.byVerb)}`);
  console.log(`clean CNI errors (plugin verb code: count): ${JSON.stringify(r.errors)}`);
  console.log(`violations: ${r.violations.length}; leaked lines at the end: ${r.leaks.length}`);
  for (const v of r.violations.slice(0, 30)) console.log(`  VIOLATION ${v}`);
  for (const l of r.leaks.slice(0, 30)) console.log(`  LEAK ${l}`);
  const out = arg("--json");
  if (out) fs.writeFileSync(out, JSON.stringify(r, null, 1));
  process.exitCode = r.violations.length || r.leaks.length ? 1 : 0;
}
