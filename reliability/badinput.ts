// Runs the bad-input corpus (corpus.ts): each (case, plugin, verb) as a real process in a
// throwaway node namespace. A run passes when the process exits non-zero with a CNI error JSON on
// stdout carrying the expected code (or exits 0 where the spec says so), prints no stack trace,
// and the machine is unchanged: a snapshot after each case equals the world's baseline.
import * as fs from "node:fs";
import { type Case, type CaseContext, type Run, expandRuns, validConfig } from "./corpus";
import { diffSnapshots } from "./lib/snapshot";
import { type World, cniEnv, createWorld, pool, runPlugin } from "./lib/world";

export interface RunOutcome {
  run: Run;
  ok: boolean;
  exit: number | null;
  code?: number;
  problem?: string;
  ms: number;
}

export interface CaseOutcome {
  c: Case;
  runs: RunOutcome[];
  /** Machine differences after this case's runs (empty: unchanged). */
  leaks: string[];
}

export function contextOf(w: World): CaseContext {
  const netns = w.containers[0]?.path ?? "";
  return {
    network: w.network, dataDir: w.dataDir, pinRoot: w.pinRoot, netns, regularFile: w.regularFile,
    directory: w.directory, bridge: w.bridge, subnet: w.subnet, binDir: w.binDir,
  };
}

async function runOne(w: World, r: Run): Promise<RunOutcome> {
  const ctx = contextOf(w);
  const built = r.c.build(r.plugin, ctx);
  const env = cniEnv(w, built.command ?? r.verb, { containerID: "ctr-bad", netns: ctx.netns });
  for (const [k, v] of Object.entries(built.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  const p = await runPlugin(w, r.plugin, env, built.stdin);
  const out: RunOutcome = { run: r, ok: false, exit: p.code, ms: p.ms };
  let j: any;
  try {
    j = p.stdout.trim() ? JSON.parse(p.stdout) : undefined;
  } catch {
    out.problem = `stdout is not JSON: ${p.stdout.slice(0, 120)}`;
    return out;
  }
  if (/\n\s+at .+:\d+:\d+/.test(p.stderr + p.stdout)) {
    out.problem = `stack trace printed: ${(p.stderr || p.stdout).slice(0, 200)}`;
    return out;
  }
  if (r.expect === "ok") {
    out.ok = p.code === 0 && j === undefined;
    if (!out.ok) out.problem = `expected success, got exit ${p.code}: ${p.stdout.slice(0, 200)}`;
    return out;
  }
  out.code = typeof j?.code === "number" ? j.code : undefined;
  const wellFormed = j && typeof j.msg === "string" && typeof j.cniVersion === "string";
  const want: readonly number[] = typeof r.expect === "number" ? [r.expect] : r.expect;
  out.ok = p.code !== 0 && p.code !== null && wellFormed && out.code !== undefined && want.includes(out.code);
  if (!out.ok) out.problem = `expected code ${r.expect}, got exit ${p.code ?? p.signal} ${p.stdout.trim().replace(/\s+/g, " ").slice(0, 240)}`;
  return out;
}

/** Run `cases` over `workers` parallel worlds; a case's runs share one world and one snapshot check. */
/**
 * A node as it is after its first container came and went: the bridge, its gateway address and
 * forwarding exist, the IPAM store is initialised. Those are shared by design and kept by a failed
 * ADD (docs/bridge.md; the reference does the same); a "cold" world measures that separately.
 */
export async function warmUp(w: World): Promise<void> {
  const ns = w.container();
  const conf = JSON.stringify(validConfig("bridge", contextOf(w)));
  const a = { containerID: "ctr-warm", netns: ns.path };
  const add = await runPlugin(w, "bridge", cniEnv(w, "ADD", a), conf);
  if (add.code !== 0) throw new Error(`warm-up ADD failed: ${add.stdout}`);
  const del = await runPlugin(w, "bridge", cniEnv(w, "DEL", a), conf);
  if (del.code !== 0) throw new Error(`warm-up DEL failed: ${del.stdout}`);
  w.dropContainer(ns);
}

export async function runCorpus(cases: readonly Case[], o: { workers?: number; cold?: boolean; filter?: (r: Run) => boolean; log?: (s: string) => void } = {}): Promise<CaseOutcome[]> {
  const workers = o.workers ?? 2;
  const make = async () => {
    const w = createWorld();
    if (!o.cold) await warmUp(w);
    w.container();
    return { w, base: await w.settled() };
  };
  const ws = await Promise.all(Array.from({ length: workers }, make));
  try {
    return await pool(cases, workers, async (c, i) => {
      const slot = ws[i]!;
      const runs = expandRuns([c]).filter(o.filter ?? (() => true));
      const outcomes: RunOutcome[] = [];
      for (const r of runs) outcomes.push(await runOne(slot.w, r));
      const leaks = runs.length ? diffSnapshots(slot.base, slot.w.snapshot()) : [];
      if (leaks.length) {
        // Start the next case from a clean world, so one leak is not blamed on later cases.
        slot.w.dispose();
        ws[i] = await make();
      }
      const bad = outcomes.filter((x) => !x.ok).length;
      o.log?.(`${c.id}: ${runs.length} runs, ${bad} wrong, ${leaks.length} leaked lines`);
      return { c, runs: outcomes, leaks };
    });
  } finally {
    for (const s of ws) s.w.dispose();
  }
}

export function summarise(results: CaseOutcome[]) {
  const runs = results.flatMap((r) => r.runs);
  return {
    cases: results.length,
    runs: runs.length,
    wrong: runs.filter((r) => !r.ok),
    leakingCases: results.filter((r) => r.leaks.length),
    byPlugin: Object.fromEntries(["bridge", "host-local", "ebpf-bandwidth"].map((p) => [p, runs.filter((r) => r.run.plugin === p).length])),
  };
}

// CLI: npx tsx reliability/badinput.ts [--workers 2] [--only id,id] [--verbs ADD,DEL] [--plugins bridge] [--cold] [--json out.json]
if (process.argv[1]?.endsWith("badinput.ts")) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { CASES } = await import("./corpus");
  const only = arg("--only")?.split(",");
  const cases = only ? CASES.filter((c) => only.includes(c.id)) : CASES;
  const started = Date.now();
  const cold = process.argv.includes("--cold");
  const verbs = arg("--verbs")?.split(",");
  const plugins = arg("--plugins")?.split(",");
  const filter = (r: Run) => (!verbs || verbs.includes(String(r.verb))) && (!plugins || plugins.includes(r.plugin));
  const results = await runCorpus(cases, { workers: Number(arg("--workers") ?? 2), cold, filter, log: (s) => console.error(s) });
  const s = summarise(results.filter((r) => r.runs.length));
  console.log(`bad-input corpus (${cold ? "cold node: no bridge yet" : "warm node: bridge exists"}): ${s.cases} cases, ${s.runs} plugin runs (${Object.entries(s.byPlugin).map(([k, v]) => `${k} ${v}`).join(", ")}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`wrong outcome: ${s.wrong.length}; cases that changed the machine: ${s.leakingCases.length}`);
  for (const w of s.wrong) console.log(`  WRONG ${w.run.c.id} ${w.run.plugin} ${w.run.verb}: ${w.problem}`);
  for (const l of s.leakingCases) console.log(`  LEAK ${l.c.id}:\n    ${l.leaks.slice(0, 12).join("\n    ")}`);
  const out = arg("--json");
  if (out) fs.writeFileSync(out, JSON.stringify(results.map((r) => ({ id: r.c.id, leaks: r.leaks, runs: r.runs.map((x) => ({ plugin: x.run.plugin, verb: x.run.verb, expect: x.run.expect, exit: x.exit, code: x.code, ok: x.ok, problem: x.problem, ms: x.ms })) })), null, 1));
  process.exitCode = s.wrong.length || s.leakingCases.length ? 1 : 0;
}
