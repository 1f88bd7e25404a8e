// Bursts and blocked calls, ours (shim → resident daemon) against the Go reference bridge +
// host-local (/usr/lib/cni), in one run (issue 17). A benchmark, not a timed test: the numbers
// never fail it; a plugin call that fails, or an address handed out twice, does (exit status 1,
// after both tables and the list of failures are printed).
//
//   npx tsx scripts/bench-burst.ts [--sizes 1,8,32,110] [--rounds 3] [--hold 20] [--delay 1]
//                                  [--idle-iterations 15] [--block-iterations 5] [--full-hold] [--smoke]
//
// Bursts: N ADDs started at once (every process spawned before any is awaited), then the N DELs
// likewise; per burst the wall time (first spawn to last exit) and the slowest single call; sides
// interleaved (ours, reference, ours, …), --rounds times per size, medians printed.
//
// Blocked: the idle p50 of VERSION, a bridge ADD on another network (its DEL untimed) and a DEL
// of another container (its ADD untimed), --idle-iterations sequential calls each. Then, once per
// kind of call and side: a lock is taken with flock(1), one ADD started that must wait on it, and
// --delay seconds later up to --block-iterations calls of that kind run one after another while
// the lock is held; the lock is released when they are done or after --hold seconds, whichever
// comes first (a call is only started while the lock is held; every measured call falls in the
// first seconds either way), or with --full-hold only after --hold seconds, so that the blocked
// ADD really waits that long, as in the issue's table. Two locks:
//   - host-local's store lock of network "blocked-<side>" (<dataDir>/<network>/lock);
//   - the legacy xtables lock: the blocked ADD's network has "ipMasq": true, the plugins' PATH
//     starts with a private directory whose iptables*/ip6tables* are Debian's *-legacy tools (the
//     nft variant ignores the lock), and XTABLES_LOCKFILE names a private file, held here (the
//     machine's /run/xtables.lock is never held).
// Goal (issue 17): ours at or below the reference at every burst size; under a block, every other
// call within 2× its idle p50.
//
// --smoke: sizes 1 and 8, 1 round, hold 2 s, few iterations (well under a minute).
//
// How calls are made: as a runtime does, `nsenter --net=/var/run/netns/<node> -- <bin>/bridge`
// with CNI_* in the environment and the config on stdin; the environment is built from scratch
// (no NODE_*: NODE_EXTRA_CA_CERTS alone costs 90 ms per Node start on this machine). Ours is
// `dist/tscni install --dir <tmp>`; its daemon is spawned by a VERSION call and waited for with
// `tscni daemon status` (the installed copy of dist/tscni, so that a rebuild of dist/ during the
// run changes nothing) run inside the node namespace; only its exit status is read. Every figure
// includes nsenter's own start-up (printed). The timestamps are taken on this script's event loop,
// which is busy while it launches a burst: the early exits of a large burst are seen late.
//
// Needs root. Everything lives in throwaway namespaces (one "node" namespace holding both sides'
// bridges, one per container) and a temp dir; the machine's root network namespace is never
// touched. On exit, failure or SIGINT: lock holders killed, whatever was added DELeted, the node
// namespace's daemon stopped, namespaces and the temp dir removed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type NodeDaemon, daemonControl, stopNodeDaemon, waitForDaemon } from "./node-daemon";

const ROOT = path.resolve(import.meta.dirname, "..");
const DIST = path.join(ROOT, "dist/tscni");
const REFERENCE_DIR = "/usr/lib/cni";
const BASE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const VERSION_STDIN = JSON.stringify({ cniVersion: "1.0.0" });
const SETTLE_MS = 100; // between bursts, so that one burst's kernel work does not spill into the next

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  sizes: number[];
  rounds: number;
  holdS: number;
  delayS: number;
  idleIterations: number;
  blockIterations: number;
  fullHold: boolean;
  smoke: boolean;
}

const USAGE = "usage: npx tsx scripts/bench-burst.ts [--sizes 1,8,32,110] [--rounds 3] [--hold 20] [--delay 1] [--idle-iterations 15] [--block-iterations 5] [--full-hold] [--smoke]";

function parseOptions(argv: string[]): Options {
  const known = new Set(["--sizes", "--rounds", "--hold", "--delay", "--idle-iterations", "--block-iterations"]);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--smoke" || argv[i] === "--full-hold") continue;
    if (known.has(argv[i]!) && i + 1 < argv.length) i++;
    else throw new Error(`unknown or incomplete argument ${argv[i]}\n${USAGE}`);
  }
  const smoke = argv.includes("--smoke");
  const value = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const positive = (name: string, dflt: number, integer = true) => {
    const v = value(name);
    const n = v === undefined ? dflt : Number(v);
    if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${name} wants a positive ${integer ? "integer" : "number"}, got ${v}`);
    return n;
  };
  const sizes = (value("--sizes") ?? (smoke ? "1,8" : "1,8,32,110")).split(",").map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--sizes wants positive integers, got ${value("--sizes")}`);
  return {
    sizes,
    rounds: positive("--rounds", smoke ? 1 : 3),
    holdS: positive("--hold", smoke ? 2 : 20, false),
    delayS: positive("--delay", 1, false),
    idleIterations: positive("--idle-iterations", smoke ? 5 : 15),
    blockIterations: positive("--block-iterations", smoke ? 3 : 5),
    fullHold: argv.includes("--full-hold"),
    smoke,
  };
}

// ---------------------------------------------------------------------------------------------
// Everything this run made, for the clean-up

type Net = "burst" | "other" | "blocked" | "masq";
type Verb = "ADD" | "DEL" | "VERSION";
interface CallSpec {
  verb: Verb;
  net?: Net;
  id?: string;
  netns?: string;
}

const made = {
  tag: `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`,
  tmp: "",
  node: "",
  nodeIno: 0,
  namespaces: [] as string[],
  holders: new Set<ChildProcess>(),
  inflight: new Set<ChildProcess>(),
  /** Every ADD started and not yet DELeted successfully. */
  live: new Map<string, { side: Side; spec: CallSpec }>(),
  daemon: undefined as NodeDaemon | undefined,
  cleaned: false,
};

const netnsPath = (name: string) => `/var/run/netns/${name}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const progress = (s: string) => process.stderr.write(`[bench-burst] ${s}\n`);

function addNetns(name: string): string {
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  made.namespaces.push(name);
  return name;
}

// ---------------------------------------------------------------------------------------------
// The two sides

interface Side {
  key: "ours" | "ref";
  label: string;
  bin: string;
  cniPath: string;
  env: Record<string, string>;
  dataDir: string;
  confs: Record<Net, string>;
  /** Container namespaces; each holds at most one attachment at a time. */
  pool: string[];
}

const NETS: Net[] = ["burst", "other", "blocked", "masq"];

function networkConf(side: Side["key"], net: Net, dataDir: string): string {
  const s = side === "ours" ? 0 : 1;
  const n = NETS.indexOf(net);
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `${net}-${side}`,
    type: "bridge",
    bridge: `bb${side[0]}${n}${made.tag}`.slice(0, 15),
    isGateway: true,
    ...(net === "masq" ? { ipMasq: true } : {}),
    ipam: { type: "host-local", subnet: `10.${200 + 2 * n + s}.0.0/16`, dataDir },
  });
}

function makeSide(key: Side["key"], bin: string, env: Record<string, string>, poolSize: number): Side {
  const dataDir = path.join(made.tmp, `data-${key}`);
  const confs = Object.fromEntries(NETS.map((n) => [n, networkConf(key, n, dataDir)])) as Record<Net, string>;
  const pool = Array.from({ length: poolSize }, (_, i) => addNetns(`bburst-${key}${i}-${made.tag}`));
  const label = key === "ours" ? "ours (daemon)" : "reference";
  return { key, label, bin, cniPath: path.dirname(bin), env, dataDir, confs, pool };
}

/** Legacy iptables under the usual names, first on the plugins' PATH. */
function legacyIptablesDir(): string | undefined {
  if (!fs.existsSync("/usr/sbin/iptables-legacy")) return undefined;
  const dir = path.join(made.tmp, "legacy-iptables");
  fs.mkdirSync(dir);
  for (const fam of ["iptables", "ip6tables"]) {
    for (const suffix of ["", "-save", "-restore"]) fs.symlinkSync(`/usr/sbin/${fam}-legacy${suffix}`, path.join(dir, `${fam}${suffix}`));
  }
  return dir;
}

/** `dist/tscni install`, retried while dist/ is being rebuilt by someone else. */
async function installOurs(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(DIST, ["install", "--dir", dir], { env: { PATH: BASE_PATH }, encoding: "utf8" });
    if (r.status === 0) return;
    if (attempt >= 60) throw new Error(`dist/tscni install failed: ${r.error?.message ?? r.stderr}`);
    if (attempt === 1) progress("dist/tscni not installable yet (being rebuilt?): retrying for up to 2 minutes");
    await sleep(2000);
  }
}

// ---------------------------------------------------------------------------------------------
// Plugin calls

interface CallResult {
  spec: CallSpec;
  code: number | null;
  signal: string | null;
  error?: string;
  start: number;
  end: number;
  ms: number;
  stdout: string;
  stderr: string;
}
interface Running {
  done: Promise<CallResult>;
  finished: () => boolean;
}

const liveKey = (side: Side, id: string) => `${side.key}/${id}`;
let serial = 0;
const newId = (side: Side, what: string) => `bb${made.tag}-${side.key}-${what}-${serial++}`;

function pluginEnv(side: Side, spec: CallSpec): Record<string, string> {
  const env: Record<string, string> = { ...side.env, CNI_COMMAND: spec.verb, CNI_PATH: side.cniPath };
  if (spec.verb !== "VERSION") Object.assign(env, { CNI_CONTAINERID: spec.id!, CNI_NETNS: netnsPath(spec.netns!), CNI_IFNAME: "eth0" });
  return env;
}

/** Start one call now; its exit is recorded whenever it comes. */
function startCall(side: Side, spec: CallSpec): Running {
  if (spec.verb === "ADD") made.live.set(liveKey(side, spec.id!), { side, spec });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let end = 0;
  let finished = false;
  const start = performance.now();
  const child = spawn("nsenter", [`--net=${netnsPath(made.node)}`, "--", side.bin], { env: pluginEnv(side, spec), stdio: "pipe" });
  made.inflight.add(child);
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  child.stdin.on("error", () => undefined); // a plugin may exit without reading its stdin
  child.stdin.end(spec.net ? side.confs[spec.net] : VERSION_STDIN);
  child.once("exit", () => (end = performance.now()));
  const done = new Promise<CallResult>((resolve) => {
    const finish = (code: number | null, signal: string | null, error?: string) => {
      if (finished) return;
      finished = true;
      made.inflight.delete(child);
      const stop = end || performance.now();
      if (spec.verb === "DEL" && code === 0) made.live.delete(liveKey(side, spec.id!));
      const result: CallResult = { spec, code, signal, start, end: stop, ms: stop - start, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      resolve(error === undefined ? result : { ...result, error });
    };
    child.once("close", (code, signal) => finish(code, signal));
    child.once("error", (e) => finish(null, null, e.message));
  });
  return { done, finished: () => finished };
}

const call = (side: Side, spec: CallSpec) => startCall(side, spec).done;

// ---------------------------------------------------------------------------------------------
// Failures: collected, counted, printed; never hidden

const failures: string[] = [];

function describeFailure(r: CallResult): string {
  if (r.error) return r.error;
  let why = (r.stdout || r.stderr).trim();
  try {
    const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
    why = `code ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ""}`;
  } catch {
    /* not a CNI error: keep the raw output */
  }
  return `${r.code === null ? `signal ${r.signal}` : `exit ${r.code}`}: ${why.replace(/\s+/g, " ").slice(0, 300)}`;
}

function check(side: Side, what: string, r: CallResult): boolean {
  if (r.code === 0) return true;
  failures.push(`${side.label}, ${what}, ${r.spec.verb}${r.spec.id ? ` ${r.spec.id}` : ""}: ${describeFailure(r)}`);
  return false;
}

function addressesOf(stdout: string): string[] {
  try {
    const result = JSON.parse(stdout) as { ips?: { address?: string }[] };
    return (result.ips ?? []).flatMap((ip) => (ip.address ? [ip.address.split("/")[0]!] : []));
  } catch {
    return [];
  }
}

/** Every successful ADD of a burst got an address, and no address twice. Returns the number of bad results. */
function checkDistinct(side: Side, what: string, results: CallResult[]): number {
  const owner = new Map<string, string>();
  let bad = 0;
  for (const r of results.filter((x) => x.code === 0)) {
    const addrs = addressesOf(r.stdout);
    if (addrs.length === 0) {
      failures.push(`${side.label}, ${what}: ADD ${r.spec.id} returned no address: ${r.stdout.slice(0, 200)}`);
      bad++;
    }
    for (const a of addrs) {
      if (owner.has(a)) {
        failures.push(`${side.label}, ${what}: address ${a} handed to both ${owner.get(a)} and ${r.spec.id}`);
        bad++;
      } else owner.set(a, r.spec.id!);
    }
  }
  return bad;
}

/** After a failed DEL: try once more; if the container still holds an interface, give the pool a fresh namespace. */
async function repairAfterDel(side: Side, results: CallResult[], what: string): Promise<void> {
  for (const r of results.filter((x) => x.spec.verb === "DEL" && x.code !== 0)) {
    if (check(side, `${what}, DEL retried`, await call(side, r.spec))) continue;
    const i = side.pool.indexOf(r.spec.netns!);
    if (i < 0) continue; // replaced already
    side.pool[i] = addNetns(`bburst-${side.key}r${serial++}-${made.tag}`);
    progress(`${side.label}: container namespace ${r.spec.netns} replaced after a failed DEL`);
  }
}

// ---------------------------------------------------------------------------------------------
// Bursts

interface BurstStats {
  wall: number;
  slowest: number;
  spread: number;
  failed: number;
}

/** Start every call, then wait for all of them. */
async function together(side: Side, specs: CallSpec[], what: string): Promise<{ stats: BurstStats; results: CallResult[] }> {
  const running = specs.map((s) => startCall(side, s));
  const results = await Promise.all(running.map((r) => r.done));
  const first = Math.min(...results.map((r) => r.start));
  const failed = results.filter((r) => !check(side, what, r)).length;
  const stats = {
    wall: Math.max(...results.map((r) => r.end)) - first,
    slowest: Math.max(...results.map((r) => r.ms)),
    spread: Math.max(...results.map((r) => r.start)) - first,
    failed,
  };
  return { stats, results };
}

async function burstOnce(side: Side, size: number): Promise<{ add: BurstStats; del: BurstStats }> {
  const adds: CallSpec[] = side.pool.slice(0, size).map((netns) => ({ verb: "ADD", net: "burst", id: newId(side, `b${size}`), netns }));
  const add = await together(side, adds, `burst of ${size} ADDs`);
  add.stats.failed += checkDistinct(side, `burst of ${size} ADDs`, add.results);
  await sleep(SETTLE_MS);
  // Every ADD is DELeted, failed ones too (DEL is idempotent; a failed ADD may have left parts).
  const del = await together(side, adds.map((s) => ({ ...s, verb: "DEL" })), `burst of ${size} DELs`);
  await repairAfterDel(side, del.results, `burst of ${size} DELs`);
  await sleep(SETTLE_MS);
  return { add: add.stats, del: del.stats };
}

interface BurstRow {
  size: number;
  stats: Map<Side["key"], { add: BurstStats[]; del: BurstStats[] }>;
}

async function runBursts(sides: Side[], o: Options): Promise<BurstRow[]> {
  const rows: BurstRow[] = [];
  for (const size of o.sizes) {
    const stats = new Map(sides.map((s) => [s.key, { add: [] as BurstStats[], del: [] as BurstStats[] }]));
    for (let round = 0; round < o.rounds; round++) {
      for (const side of sides) {
        const r = await burstOnce(side, size);
        stats.get(side.key)!.add.push(r.add);
        stats.get(side.key)!.del.push(r.del);
        progress(`burst ${size}, round ${round + 1}, ${side.label}: ADD wall ${fmt(r.add.wall)} ms, DEL wall ${fmt(r.del.wall)} ms`);
      }
    }
    rows.push({ size, stats });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Blocked: idle p50, then the same calls while one ADD waits on a held lock

type Kind = "VERSION" | "ADD" | "DEL";
const KINDS: Kind[] = ["VERSION", "ADD", "DEL"];
const KIND_LABEL: Record<Kind, string> = { VERSION: "VERSION", ADD: "ADD, other network", DEL: "DEL, other container" };

/** One timed call of `kind` on network "other" (an ADD's DEL, a DEL's ADD untimed). Undefined if it failed. */
async function timedKind(side: Side, kind: Kind, netns: string, what: string): Promise<number | undefined> {
  if (kind === "VERSION") {
    const r = await call(side, { verb: "VERSION" });
    return check(side, what, r) ? r.ms : undefined;
  }
  const add: CallSpec = { verb: "ADD", net: "other", id: newId(side, "idle"), netns };
  const del: CallSpec = { ...add, verb: "DEL" };
  const a = await call(side, add);
  const addOk = check(side, what, a);
  const d = await call(side, del);
  const delOk = check(side, what, d);
  if (!delOk) await repairAfterDel(side, [d], what);
  if (kind === "ADD") return addOk ? a.ms : undefined;
  return addOk && delOk ? d.ms : undefined;
}

type Samples = Map<string, number[]>; // `${side}/${kind}` → ms
const sampleKey = (side: Side, kind: Kind) => `${side.key}/${kind}`;

async function measureIdle(sides: Side[], o: Options): Promise<Samples> {
  const samples: Samples = new Map();
  for (const kind of KINDS) {
    for (let i = 0; i < o.idleIterations; i++) {
      for (const side of sides) {
        const ms = await timedKind(side, kind, side.pool[0]!, `idle ${kind}`);
        if (ms !== undefined) samples.set(sampleKey(side, kind), [...(samples.get(sampleKey(side, kind)) ?? []), ms]);
      }
    }
  }
  return samples;
}

interface Holder {
  held: () => boolean;
  /** Now (kill the holder), or, with `untilExpiry`, when its sleep ends. */
  release: (untilExpiry?: boolean) => Promise<void>;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    /* gone already */
  }
}

/** `flock <file> sleep <seconds>` in its own process group; resolves once the lock is held. */
async function holdLock(file: string, seconds: number): Promise<Holder> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, "a", 0o600));
  const child = spawn("flock", [file, "sleep", String(seconds)], { detached: true, stdio: "ignore" });
  made.holders.add(child);
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      alive = false;
      made.holders.delete(child);
      resolve();
    }),
  );
  const deadline = Date.now() + 5000;
  while (spawnSync("flock", ["-n", file, "true"]).status === 0) {
    if (!alive || Date.now() > deadline) throw new Error(`could not hold ${file}`);
    await sleep(10);
  }
  return {
    held: () => alive,
    release: async (untilExpiry = false) => {
      if (alive && !untilExpiry) killGroup(child);
      await exited;
    },
  };
}

interface Variant {
  key: "hostlocal" | "xtables";
  label: string;
  net: Net;
  lockFile: (side: Side) => string;
}

interface Episode {
  variant: Variant;
  side: Side;
  kind: Kind;
  samples: number[];
  /** The blocked ADD had not returned when the measured calls began. */
  waiting: boolean;
  blockedMs: number;
  blockedOk: boolean;
}

/** DEL each spec (untimed), repairing the pool where that fails. */
async function delAll(side: Side, specs: CallSpec[], what: string): Promise<void> {
  for (const s of specs) {
    const r = await call(side, { ...s, verb: "DEL" });
    if (!check(side, what, r)) await repairAfterDel(side, [r], what);
  }
}

/** The specs of containers ADDed (untimed) on network "other", one per namespace. */
async function addUntimed(side: Side, namespaces: string[], what: string): Promise<CallSpec[]> {
  const specs: CallSpec[] = [];
  for (const netns of namespaces) {
    const spec: CallSpec = { verb: "ADD", net: "other", id: newId(side, "pre"), netns };
    check(side, what, await call(side, spec));
    specs.push(spec);
  }
  return specs;
}

async function episode(variant: Variant, kind: Kind, side: Side, o: Options): Promise<Episode> {
  const what = `${variant.key} lock held, ${kind}`;
  const k = o.blockIterations;
  const namespaces = side.pool.slice(0, k);
  const prepared = kind === "DEL" ? await addUntimed(side, namespaces, `${what}, untimed ADD before`) : [];
  const holder = await holdLock(variant.lockFile(side), o.holdS);
  const blocked = startCall(side, { verb: "ADD", net: variant.net, id: newId(side, "blocked"), netns: side.pool[k]! });
  await sleep(o.delayS * 1000);
  const waiting = !blocked.finished();
  const samples: number[] = [];
  const afterwards: CallSpec[] = [];
  let started = 0;
  for (; started < k && holder.held(); started++) {
    const spec: CallSpec =
      kind === "VERSION" ? { verb: "VERSION" } : kind === "ADD" ? { verb: "ADD", net: "other", id: newId(side, "under"), netns: namespaces[started]! } : { ...prepared[started]!, verb: "DEL" };
    const r = await call(side, spec);
    if (check(side, what, r)) samples.push(r.ms);
    else if (kind === "DEL") afterwards.push(spec); // retried below
    if (kind === "ADD") afterwards.push(spec);
  }
  await holder.release(o.fullHold);
  const b = await blocked.done;
  const blockedOk = check(side, `${what}, the blocked ADD`, b);
  await delAll(side, [b.spec, ...afterwards, ...prepared.slice(started)], `${what}, untimed DEL after`);
  return { variant, side, kind, samples, waiting, blockedMs: b.ms, blockedOk };
}

async function runBlocked(variants: Variant[], sides: Side[], o: Options): Promise<Episode[]> {
  const episodes: Episode[] = [];
  for (const v of variants) {
    for (const kind of KINDS) {
      for (const side of sides) {
        const e = await episode(v, kind, side, o);
        episodes.push(e);
        progress(`${v.key} lock, ${kind}, ${side.label}: ${e.samples.length} calls under block, p50 ${e.samples.length ? fmt(median(e.samples)) : "–"} ms; blocked ADD ${fmt(e.blockedMs)} ms`);
      }
    }
  }
  return episodes;
}

// ---------------------------------------------------------------------------------------------
// The daemon of the node namespace

/** The first call in the node namespace spawns the daemon; wait until it answers. */
async function warmDaemon(ours: Side): Promise<void> {
  made.daemon = { netns: netnsPath(made.node), ino: made.nodeIno, tscni: path.join(ours.cniPath, "tscni"), socket: `/run/tscni/tscni-${made.nodeIno}.sock` };
  check(ours, "first VERSION (spawns the daemon)", await call(ours, { verb: "VERSION" }));
  await waitForDaemon(made.daemon);
}

// ---------------------------------------------------------------------------------------------
// Clean-up (synchronous: it runs from process.on("exit") too)

/** Still running (not exited, not a zombie nobody reaped yet)? */
function running(pid: number | undefined): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

function cleanup(): void {
  if (made.cleaned) return;
  made.cleaned = true;
  // Locks first, so that calls waiting on them can finish (a killed call leaves parts behind);
  // whatever has not finished 5 s later is killed.
  for (const h of made.holders) killGroup(h);
  const until = Date.now() + 5000;
  while ([...made.inflight].some((c) => running(c.pid)) && Date.now() < until) sleepSync(50);
  for (const c of made.inflight) c.kill("SIGKILL");
  for (const { side, spec } of made.live.values()) {
    const r = spawnSync("nsenter", [`--net=${netnsPath(made.node)}`, "--", side.bin], { env: pluginEnv(side, { ...spec, verb: "DEL" }), input: side.confs[spec.net!], encoding: "utf8", timeout: 30_000 });
    const why = r.error?.message ?? (r.stdout || r.stderr).replace(/\s+/g, " ").slice(0, 300);
    if (r.status !== 0) process.stderr.write(`cleanup: DEL ${spec.id} (${side.label}) failed, left to the namespaces' removal: ${why}\n`);
  }
  if (made.daemon) stopNodeDaemon(made.daemon);
  for (const n of made.namespaces.reverse()) spawnSync("ip", ["netns", "delete", n]);
  if (made.tmp) fs.rmSync(made.tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const fmt = (ms: number) => (ms < 100 ? ms.toFixed(1) : Math.round(ms).toLocaleString("en-US"));
const ratio = (a: number, b: number) => {
  const r = a / b;
  return `${r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : Math.round(r).toLocaleString("en-US")}×`;
};

function printBurstTable(rows: BurstRow[], o: Options): void {
  console.log(`## Bursts: N ADDs at once, then their N DELs (ms, median of ${o.rounds} round${o.rounds > 1 ? "s" : ""})`);
  console.log("");
  console.log("wall = first spawn to last exit; slowest = the longest single call of the burst.");
  console.log("");
  console.log("| size | ours ADD wall | ours ADD slowest | ref ADD wall | ref ADD slowest | ours DEL wall | ours DEL slowest | ref DEL wall | ref DEL slowest | ADD wall ours/ref | DEL wall ours/ref | failed calls ours / ref |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const ours = row.stats.get("ours")!;
    const ref = row.stats.get("ref")!;
    const m = (xs: BurstStats[], f: "wall" | "slowest") => median(xs.map((x) => x[f]));
    const failed = (s: { add: BurstStats[]; del: BurstStats[] }) => [...s.add, ...s.del].reduce((n, x) => n + x.failed, 0);
    const cells = [m(ours.add, "wall"), m(ours.add, "slowest"), m(ref.add, "wall"), m(ref.add, "slowest"), m(ours.del, "wall"), m(ours.del, "slowest"), m(ref.del, "wall"), m(ref.del, "slowest")];
    console.log(`| ${row.size} | ${cells.map(fmt).join(" | ")} | ${ratio(cells[0]!, cells[2]!)} | ${ratio(cells[4]!, cells[6]!)} | ${failed(ours)} / ${failed(ref)} |`);
  }
  const spreads = rows.map((r) => `${r.size}: ${fmt(median([...r.stats.values()].flatMap((s) => [...s.add, ...s.del].map((x) => x.spread))))} ms`);
  console.log("");
  console.log(`Launching a burst from this script (first to last spawn, median): ${spreads.join(", ")}.`);
  console.log("");
}

function blockedCell(e: Episode): string {
  const outcome = e.blockedOk ? "" : ", failed";
  return e.waiting ? `waited for the lock: ${fmt(e.blockedMs)} in all${outcome}` : `**not blocked**: returned after ${fmt(e.blockedMs)}${outcome}`;
}

function printBlockedTable(episodes: Episode[], idle: Samples, o: Options): void {
  console.log(`## One ADD waiting on a held lock; other calls ${o.delayS} s later (ms)`);
  console.log("");
  console.log(`idle p50: ${o.idleIterations} sequential calls. Under block: up to ${o.blockIterations} sequential calls, each started while the lock was held (${o.fullHold ? `held ${o.holdS} s` : `held until they were done, at most ${o.holdS} s`}); the last column is the blocked ADD itself. Goal: under-block max ≤ 2× idle p50.`);
  console.log("");
  console.log("| lock held | side | call | idle p50 | under block p50 | under block max | calls under block | p50 / idle p50 | max / idle p50 | ≤ 2× | the blocked ADD |");
  console.log("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|");
  for (const e of episodes) {
    const base = idle.get(sampleKey(e.side, e.kind));
    const idleP50 = base?.length ? median(base) : NaN;
    const n = e.samples.length;
    const p50 = n ? median(e.samples) : NaN;
    const max = n ? Math.max(...e.samples) : NaN;
    const stats = n ? [fmt(p50), fmt(max), String(n), ratio(p50, idleP50), ratio(max, idleP50), max <= 2 * idleP50 ? "yes" : "**no**"] : ["–", "–", "0", "–", "–", "–"];
    console.log(`| ${e.variant.label} | ${e.side.label} | ${KIND_LABEL[e.kind]} | ${base?.length ? fmt(idleP50) : "–"} | ${stats.join(" | ")} | ${blockedCell(e)} |`);
  }
  console.log("");
}

function printFailures(): void {
  console.log("## Failed calls");
  console.log("");
  if (!failures.length) {
    console.log("none");
    return;
  }
  const counts = new Map<string, number>();
  for (const f of failures) {
    const shape = f.replace(new RegExp(`bb${made.tag}-[a-z]+-[a-z0-9]+-\\d+`, "g"), "<id>").replace(/\d+\.\d+\.\d+\.\d+/g, "<ip>");
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  console.log(`${failures.length} failed call(s) or results:`);
  for (const [shape, n] of counts) console.log(`- ${n}× ${shape}`);
}

function nsenterBaseline(): number {
  const ms = Array.from({ length: 10 }, () => {
    const t = performance.now();
    spawnSync("nsenter", [`--net=${netnsPath(made.node)}`, "--", "/bin/true"]);
    return performance.now() - t;
  });
  return median(ms);
}

function printHeader(o: Options, baseline: number): void {
  const head = spawnSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim();
  let built = "?";
  try {
    built = fs.statSync(DIST).mtime.toISOString();
  } catch {
    /* being rebuilt */
  }
  console.log(`# Bursts and blocked calls: tscni (shim → daemon) and the Go reference bridge + host-local`);
  console.log("");
  console.log(`${new Date().toISOString()}; ${os.cpus().length} vCPU, kernel ${os.release()}, node ${process.version}; commit ${head}, dist/tscni built ${built}.`);
  console.log(`bridge (isGateway) + host-local /16, cniVersion 1.0.0; every figure includes nsenter's own start-up (${fmt(baseline)} ms median).`);
  console.log(`Options: sizes ${o.sizes.join(", ")}; rounds ${o.rounds}; hold ${o.holdS} s; delay ${o.delayS} s; idle iterations ${o.idleIterations}; block iterations ${o.blockIterations}${o.fullHold ? "; full hold" : ""}${o.smoke ? " (--smoke)" : ""}.`);
  console.log("");
}

// ---------------------------------------------------------------------------------------------
// Main

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, bridges)");
  for (const f of [`${REFERENCE_DIR}/bridge`, `${REFERENCE_DIR}/host-local`]) if (!fs.existsSync(f)) throw new Error(`${f} missing: apt-get install containernetworking-plugins`);
  for (const tool of ["ip", "nsenter", "flock"]) if (spawnSync("which", [tool]).status !== 0) throw new Error(`${tool} missing`);
}

/** One untimed ADD and DEL per network and side: bridges exist, code is paged in and warm. */
async function warmUp(sides: Side[]): Promise<void> {
  for (const side of sides) {
    for (const net of NETS) {
      const spec: CallSpec = { verb: "ADD", net, id: newId(side, "warm"), netns: side.pool[0]! };
      check(side, `warm-up on ${net}`, await call(side, spec));
      await delAll(side, [spec], `warm-up on ${net}`);
    }
  }
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  preflight();
  made.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-burst-"));
  made.node = addNetns(`bburst-node-${made.tag}`);
  made.nodeIno = fs.statSync(netnsPath(made.node)).ino;

  const oursDir = path.join(made.tmp, "bin-ours");
  fs.mkdirSync(oursDir);
  await installOurs(oursDir);
  const legacy = legacyIptablesDir();
  const xtLock = path.join(made.tmp, "xtables.lock");
  const env = { PATH: legacy ? `${legacy}:${BASE_PATH}` : BASE_PATH, XTABLES_LOCKFILE: xtLock };
  const poolSize = Math.max(...o.sizes, o.blockIterations + 1);
  progress(`creating ${2 * poolSize} container namespaces`);
  // A safety net only: a daemon left behind by a killed run exits after 5 idle minutes.
  const ours = makeSide("ours", path.join(oursDir, "bridge"), { ...env, TSCNI_DAEMON_IDLE_EXIT: "300" }, poolSize);
  const ref = makeSide("ref", path.join(REFERENCE_DIR, "bridge"), env, poolSize);
  const sides = [ours, ref];

  await warmDaemon(ours);
  await warmUp(sides);
  const baseline = nsenterBaseline();

  progress("bursts");
  const bursts = await runBursts(sides, o);
  progress("idle p50");
  const idle = await measureIdle(sides, o);
  const variants: Variant[] = [
    { key: "hostlocal", label: "host-local store lock of the blocked ADD's network", net: "blocked", lockFile: (s) => path.join(s.dataDir, `blocked-${s.key}`, "lock") },
    ...(legacy ? [{ key: "xtables", label: "xtables lock (legacy iptables), blocked ADD has ipMasq", net: "masq", lockFile: () => xtLock } satisfies Variant] : []),
  ];
  progress("blocked calls");
  const episodes = await runBlocked(variants, sides, o);
  if (daemonControl(made.daemon!, "status", 10_000) !== 0) failures.push("ours: the daemon no longer answers `daemon status` at the end of the run");

  printHeader(o, baseline);
  printBurstTable(bursts, o);
  printBlockedTable(episodes, idle, o);
  if (!legacy) console.log("(xtables variant skipped: /usr/sbin/iptables-legacy not found)\n");
  printFailures();
  return failures.length ? 1 : 0;
}

process.on("exit", cleanup);
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) process.on(signal, () => process.exit(code));

main().then(
  (code) => {
    cleanup();
    process.exit(code);
  },
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
