// Crash injection: kill -9 a plugin at every point of its ADD where it is about to change the
// kernel or its files, then recover as a runtime would, and compare the node with its clean state.
//
// Points are deterministic: a probe run under strace lists the plugin's main-thread calls of the
// syscalls below (netlink sendto, bpf, sysctl/file writes, link/unlink/rename/mkdir, flock,
// setns, process spawns) after it starts real work; for each call, ADD is re-run under
// `strace -e inject=<syscall>:signal=SIGKILL:when=<k>`, which kills the plugin on entering its
// k-th call of that syscall, i.e. after everything before it happened and before it happens.
// Optionally, a time sweep kills after fixed delays instead (catches points inside library code).
//
// Recovery modes: "del" runs the chain's DEL in reverse without prevResult (libcni caches a result
// only after a successful ADD); "gc" deletes the container namespace (the runtime's sandbox
// teardown) and then runs every plugin's GC with an empty valid-attachments list.
import * as fs from "node:fs";
import { validConfig } from "./corpus";
import { contextOf } from "./badinput";
import { type Snapshot, HOST_LOCAL_LOOSE, diffSnapshots } from "./lib/snapshot";
import { type World, cniEnv, createWorld, runPlugin } from "./lib/world";
import { warmUp } from "./badinput";

export const INJECT_SYSCALLS = ["sendto", "bpf", "write", "link", "unlink", "rename", "mkdir", "utimensat", "flock", "setns", "clone"] as const;
export type Scenario = "bridge" | "host-local" | "ebpf-bandwidth";
export type Recovery = "del" | "gc";

export interface Point {
  sys: string;
  k: number;
  /** The traced call, shortened (what the plugin was about to do). */
  call: string;
}

export interface PointOutcome {
  scenario: Scenario;
  recovery: Recovery;
  point: Point | { delayMs: number };
  /** The plugin died from the injected kill (false: it finished first). */
  killed: boolean;
  recoveryOk: boolean;
  recoveryError?: string;
  leaks: string[];
}

interface Attempt {
  containerID: string;
  ns: ReturnType<World["container"]>;
  /** Config for the plugin under test (bandwidth: with the bridge's prevResult). */
  conf: Record<string, any>;
  bridgeConf: Record<string, any>;
}

let seq = 0;

/** A fresh container; for ebpf-bandwidth the bridge ADD (not under test) runs first. */
async function prepare(w: World, scenario: Scenario): Promise<Attempt> {
  seq += 1;
  const containerID = `crash-${process.pid}-${seq}`;
  const ns = w.container();
  const ctx = contextOf(w);
  const bridgeConf = validConfig("bridge", ctx);
  let conf = validConfig(scenario, ctx);
  if (scenario === "ebpf-bandwidth") {
    const r = await runPlugin(w, "bridge", cniEnv(w, "ADD", { containerID, netns: ns.path }), JSON.stringify(bridgeConf));
    if (r.code !== 0) throw new Error(`bridge ADD before the bandwidth crash failed: ${r.stdout}`);
    conf = { ...conf, prevResult: JSON.parse(r.stdout) };
  }
  return { containerID, ns, conf, bridgeConf };
}

const chainOf = (s: Scenario): Scenario[] => (s === "ebpf-bandwidth" ? ["bridge", "ebpf-bandwidth"] : [s]);

async function recover(w: World, s: Scenario, a: Attempt, mode: Recovery): Promise<string | undefined> {
  const confOf = (p: Scenario) => {
    const c = p === s ? { ...a.conf } : { ...a.bridgeConf };
    delete c.prevResult;
    return c;
  };
  if (mode === "del") {
    for (const p of chainOf(s).reverse()) {
      const r = await runPlugin(w, p, cniEnv(w, "DEL", { containerID: a.containerID, netns: a.ns.path }), JSON.stringify(confOf(p)));
      if (r.code !== 0) return `${p} DEL exit ${r.code ?? r.signal}: ${r.stdout.trim().slice(0, 300)}`;
    }
    // The runtime deletes the sandbox afterwards; our DEL must have emptied it already.
    const links = (JSON.parse(a.ns.ip("-j", "link", "show")) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n !== "lo");
    w.dropContainer(a.ns);
    if (links.length) return `container still has ${links.join(", ")} after DEL`;
    return undefined;
  }
  w.dropContainer(a.ns);
  return gcAll(w, s);
}

/** GC of every plugin in the scenario's chain with nothing valid: "forget everything of this network". */
async function gcAll(w: World, s: Scenario): Promise<string | undefined> {
  const ctx = contextOf(w);
  for (const p of chainOf(s)) {
    const conf: Record<string, any> = { ...validConfig(p, ctx), "cni.dev/valid-attachments": [] };
    delete conf.prevResult;
    const r = await runPlugin(w, p, cniEnv(w, "GC"), JSON.stringify(conf));
    if (r.code !== 0) return `${p} GC exit ${r.code ?? r.signal}: ${r.stdout.trim().slice(0, 300)}`;
  }
  return undefined;
}

/** The injection points of one scenario: a traced ADD (then DEL, so the world stays clean). */
export async function probe(w: World, s: Scenario): Promise<Point[]> {
  const a = await prepare(w, s);
  const log = `${w.root}/probe.strace`;
  const r = await runPlugin(w, s, cniEnv(w, "ADD", { containerID: a.containerID, netns: a.ns.path }), JSON.stringify(a.conf), [
    "strace", "-qq", "-o", log, "-e", `trace=${INJECT_SYSCALLS.join(",")}`,
  ]);
  if (r.code !== 0) throw new Error(`probe ADD failed: ${r.stdout}`);
  const lines = fs.readFileSync(log, "utf8").split("\n");
  fs.rmSync(log);
  await recover(w, s, a, "del");
  const counts = new Map<string, number>();
  const points: Point[] = [];
  let started = false;
  for (const line of lines) {
    const m = /^([a-z0-9_]+)\((.*)$/.exec(line);
    if (!m) continue;
    const sys = m[1]!;
    const k = (counts.get(sys) ?? 0) + 1;
    counts.set(sys, k);
    // Work starts at the first namespace switch, netlink request or lock: before that, Node boots.
    if (!started && (sys === "setns" || sys === "sendto" || sys === "flock" || (sys === "mkdir" && line.includes("/run/tscni")))) started = true;
    if (started) points.push({ sys, k, call: line.slice(0, 140) });
  }
  return points;
}

export async function crashAt(w: World, s: Scenario, at: Point | { delayMs: number }, mode: Recovery, base: Snapshot): Promise<PointOutcome> {
  const a = await prepare(w, s);
  const env = cniEnv(w, "ADD", { containerID: a.containerID, netns: a.ns.path });
  let killed: boolean;
  if ("sys" in at) {
    const r = await runPlugin(w, s, env, JSON.stringify(a.conf), ["strace", "-qq", "-o", "/dev/null", "-e", `trace=${at.sys}`, "-e", `inject=${at.sys}:signal=SIGKILL:when=${at.k}`]);
    killed = r.signal === "SIGKILL" || r.code === 137;
  } else {
    const r = await runPlugin(w, s, env, JSON.stringify(a.conf), [], at.delayMs);
    killed = r.signal === "SIGKILL";
  }
  const recoveryError = await recover(w, s, a, mode);
  let leaks = diffSnapshots(base, w.snapshot(), { loose: HOST_LOCAL_LOOSE });
  // The kernel destroys a deleted namespace (and the veth pair in it) asynchronously, later under
  // load: look again once the node stopped changing before calling anything a leak.
  if (leaks.length) leaks = diffSnapshots(base, await w.settled(), { loose: HOST_LOCAL_LOOSE });
  return { scenario: s, recovery: mode, point: at, killed, recoveryOk: !recoveryError, ...(recoveryError ? { recoveryError } : {}), leaks };
}

export interface SweepOptions {
  scenarios?: Scenario[];
  recoveries?: Recovery[];
  /** Take every n-th point only (bounded runs in CI). */
  every?: number;
  /** Also kill after these delays (ms) from spawn. */
  delays?: number[];
  log?: (s: string) => void;
}

/** One world per scenario; the baseline is the warmed-up node (bridge exists, store initialised). */
export async function sweep(o: SweepOptions = {}): Promise<{ outcomes: PointOutcome[]; points: Record<string, number> }> {
  const outcomes: PointOutcome[] = [];
  const points: Record<string, number> = {};
  for (const s of o.scenarios ?? (["bridge", "host-local", "ebpf-bandwidth"] as Scenario[])) {
    let w = createWorld();
    try {
      await warmUp(w);
      let base = await w.settled();
      const all = await probe(w, s);
      const probeLeaks = diffSnapshots(base, w.snapshot(), { loose: HOST_LOCAL_LOOSE });
      if (probeLeaks.length) throw new Error(`${s}: a clean ADD + DEL already changes the node:\n${probeLeaks.join("\n")}`);
      const chosen = all.filter((_, i) => i % (o.every ?? 1) === 0);
      points[s] = chosen.length;
      for (const mode of o.recoveries ?? (["del", "gc"] as Recovery[])) {
        for (const p of [...chosen, ...(o.delays ?? []).map((delayMs) => ({ delayMs }))]) {
          const out = await crashAt(w, s, p, mode, base);
          outcomes.push(out);
          const where = "sys" in p ? `${p.sys}#${p.k}` : `${p.delayMs}ms`;
          if (!out.recoveryOk || out.leaks.length) o.log?.(`${s} ${mode} ${where}: ${out.recoveryError ?? ""} ${out.leaks.join(" | ")}`);
          // Keep later points independent of an earlier leak: clean up with GC (the runtime's own
          // remedy); if even that leaves something, start over on a fresh node.
          if (out.leaks.length) {
            for (const c of [...w.containers]) w.dropContainer(c);
            await gcAll(w, s);
            if (diffSnapshots(base, w.snapshot(), { loose: HOST_LOCAL_LOOSE }).length) {
              w.dispose();
              w = createWorld();
              await warmUp(w);
              base = await w.settled();
              o.log?.(`${s}: node re-made after a leak GC could not remove`);
            }
          }
        }
        o.log?.(`${s} ${mode}: ${outcomes.filter((x) => x.scenario === s && x.recovery === mode).length} points done`);
      }
    } finally {
      w.dispose();
    }
  }
  return { outcomes, points };
}

export function summarise(outcomes: PointOutcome[]) {
  const group = new Map<string, { points: number; killed: number; recoveryFailed: number; leaked: number }>();
  for (const o of outcomes) {
    const k = `${o.scenario} / ${o.recovery}`;
    const g = group.get(k) ?? { points: 0, killed: 0, recoveryFailed: 0, leaked: 0 };
    g.points++;
    if (o.killed) g.killed++;
    if (!o.recoveryOk) g.recoveryFailed++;
    if (o.leaks.length) g.leaked++;
    group.set(k, g);
  }
  return group;
}

// CLI: npx tsx reliability/crash.ts [--scenarios bridge,host-local,ebpf-bandwidth] [--every 1] [--recovery del,gc] [--delays 0:400:10]
if (process.argv[1]?.endsWith("crash.ts")) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const range = arg("--delays")?.split(":").map(Number);
  const delays = range ? Array.from({ length: Math.floor((range[1]! - range[0]!) / range[2]!) + 1 }, (_, i) => range[0]! + i * range[2]!) : [];
  const started = Date.now();
  const { outcomes, points } = await sweep({
    scenarios: arg("--scenarios")?.split(",") as Scenario[] | undefined,
    recoveries: arg("--recovery")?.split(",") as Recovery[] | undefined,
    every: Number(arg("--every") ?? 1),
    delays,
    log: (s) => console.error(s),
  });
  console.log(`crash injection: ${outcomes.length} kill-and-recover runs in ${((Date.now() - started) / 1000).toFixed(0)} s; syscall points per scenario ${JSON.stringify(points)}${delays.length ? `, plus ${delays.length} delays per scenario and recovery` : ""}`);
  console.log("| scenario / recovery | runs | plugin killed | recovery failed | leaked |\n|---|---|---|---|---|");
  for (const [k, g] of summarise(outcomes)) console.log(`| ${k} | ${g.points} | ${g.killed} | ${g.recoveryFailed} | ${g.leaked} |`);
  const bad = outcomes.filter((o) => !o.recoveryOk || o.leaks.length);
  for (const o of bad.slice(0, 40)) {
    const where = "sys" in o.point ? `before ${o.point.call}` : `after ${o.point.delayMs} ms`;
    console.log(`  ${o.scenario} ${o.recovery} killed ${where}\n    ${o.recoveryError ?? ""}\n    ${o.leaks.slice(0, 8).join("\n    ")}`);
  }
  const out = arg("--json");
  if (out) fs.writeFileSync(out, JSON.stringify(outcomes, null, 1));
  process.exitCode = bad.length ? 1 : 0;
}
