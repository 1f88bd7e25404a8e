// RTNL during bursts of shaped ADDs (issue 18): how long the node's other rtnetlink users wait
// while N pods get their network and their bandwidth limits at once. Ours (shim → resident daemon)
// with ebpf-bandwidth attached each way explicitly — "attach": "tcx" and "attach": "clsact" — and
// the Go reference bridge + host-local + bandwidth (/usr/lib/cni), plus both suites' bridge alone
// (no shaping) for the floor; in one run, sides interleaved. A benchmark, not a timed test: the
// numbers never fail it; a plugin call that fails does (exit status 1, after the tables and the
// list of failures).
//
//   npx tsx scripts/bench-attach.ts [--size 20] [--rounds 5] [--interval-ms 2] [--idle-ms 1000]
//                                   [--tscni dist/tscni] [--smoke]
//
// Each round, for each side in turn: an idle window (--idle-ms, no calls), then N chained ADDs
// started at once — bridge ADD, then the bandwidth plugin's ADD with the bridge's result as
// prevResult, 10 Mbit/s each way — and, once they are all done, their N chained DELs at once
// (bandwidth DEL, then bridge DEL). One warm-up round first (not counted): it starts the daemon's
// extra workers and pages everything in. Each shaped side keeps one pod attached for the whole
// run, as on a node that already runs pods (ours then keeps its shared IFB).
//
// The probe: a small C program (compiled here with gcc), two loops of it in the node namespace
// for the whole run, one sending RTM_GETLINK dumps (what `ip link show` sends), the other
// RTM_SETLINKs of `lo` that change nothing (taking RTNL as any link, address, route or qdisc
// change does), each sleeping --interval-ms between requests; each request's latency is recorded
// with its start on CLOCK_MONOTONIC. (Two loops, not one: a request that waited would leave the
// next one of the same loop a free lock.)
// Reported per side and burst kind: the p50, p99 and max latency of the requests that started
// inside the burst (first spawn to last exit), over all rounds, and how long the probe waited in
// all during one burst (the sum of those latencies; median of the rounds); the burst's wall time
// and its slowest chain (medians of the rounds). The idle row is the same probe in the idle windows.
//
// --smoke: bursts of 4, one round, short idle windows (a few seconds): the whole path, for tests.
//
// Why: a TCX attach or detach waits for an RCU grace period while it holds RTNL (tcx_entry_sync →
// synchronize_rcu), and so does everything else on the node that needs RTNL meanwhile; cls_bpf
// filters on clsact are added and deleted without one. See docs/ebpf-bandwidth.md, "RTNL during
// bursts of shaped ADDs".
//
// Needs root, gcc, dist/tscni (npm run build) and the reference plugins. Everything lives in
// throwaway namespaces (one node namespace holding every side's bridge, one per container), a
// private bpffs and a temp dir; the machine's root network namespace is never touched. Calls are
// made as a runtime does: `nsenter --net=<node> -- <bin>/<plugin>`, environment built from scratch
// (no NODE_*). On exit, failure or SIGINT: live attachments DELeted, the daemon stopped,
// namespaces, bpffs and temp dir removed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type NodeDaemon, daemonControl, stopNodeDaemon, waitForDaemon } from "./node-daemon";

const ROOT = path.resolve(import.meta.dirname, "..");
const REFERENCE_DIR = "/usr/lib/cni";
const BASE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const SETTLE_MS = 300; // after each burst, so that its deferred kernel work does not spill into the next window
const MBIT = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  size: number;
  rounds: number;
  intervalMs: number;
  idleMs: number;
  tscni: string;
  smoke: boolean;
}

const USAGE = "usage: npx tsx scripts/bench-attach.ts [--size 20] [--rounds 5] [--interval-ms 2] [--idle-ms 1000] [--tscni dist/tscni] [--smoke]";

function parseOptions(argv: string[]): Options {
  const known = new Set(["--size", "--rounds", "--interval-ms", "--idle-ms", "--tscni"]);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--smoke") continue;
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
  return {
    size: positive("--size", smoke ? 4 : 20),
    rounds: positive("--rounds", smoke ? 1 : 5),
    intervalMs: positive("--interval-ms", 2, false),
    idleMs: positive("--idle-ms", smoke ? 300 : 1000),
    tscni: path.resolve(value("--tscni") ?? path.join(ROOT, "dist/tscni")),
    smoke,
  };
}

// ---------------------------------------------------------------------------------------------
// Everything this run made, for the clean-up

const made = {
  tag: `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`,
  tmp: "",
  pins: "",
  node: "",
  nodeIno: 0,
  namespaces: [] as string[],
  inflight: new Set<ChildProcess>(),
  probes: new Set<ChildProcess>(),
  /** Every chain ADDed (or tried) and not yet DELeted: container ID → what its DEL needs. */
  live: new Map<string, { side: Side; netns: string; prevResult?: unknown }>(),
  daemon: undefined as NodeDaemon | undefined,
  cleaned: false,
};

const netnsPath = (name: string) => `/var/run/netns/${name}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const progress = (s: string) => process.stderr.write(`[bench-attach] ${s}\n`);
/** CLOCK_MONOTONIC in ms (libuv's hrtime), comparable with the probe's timestamps. */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function addNetns(name: string): string {
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  made.namespaces.push(name);
  return name;
}

// ---------------------------------------------------------------------------------------------
// The sides

interface Side {
  key: string;
  label: string;
  /** The directory holding bridge, host-local and the bandwidth plugin. */
  bin: string;
  /** "ebpf-bandwidth", "bandwidth", or none (bridge only). */
  shaper?: string;
  bridgeConf: Record<string, unknown>;
  shaperConf?: Record<string, unknown>;
  env: Record<string, string>;
  /** Container namespaces for the bursts; each holds at most one attachment at a time. */
  pool: string[];
}

function makeSides(o: Options, oursBin: string): Side[] {
  const defs = [
    { key: "ref", label: "reference bridge + bandwidth", bin: REFERENCE_DIR, shaper: "bandwidth" },
    { key: "tcx", label: 'ours (daemon), ebpf-bandwidth "attach": "tcx"', bin: oursBin, shaper: "ebpf-bandwidth", extra: { attach: "tcx" } },
    { key: "clsact", label: 'ours (daemon), ebpf-bandwidth "attach": "clsact"', bin: oursBin, shaper: "ebpf-bandwidth", extra: { attach: "clsact" } },
    { key: "refplain", label: "reference bridge only (no shaping)", bin: REFERENCE_DIR },
    { key: "oursplain", label: "ours (daemon) bridge only (no shaping)", bin: oursBin },
  ];
  // A safety net only: a daemon left behind by a killed run exits after 5 idle minutes.
  const env = { PATH: BASE_PATH, TSCNI_DAEMON_IDLE_EXIT: "300" };
  return defs.map((d, i) => {
    const name = `battach-${d.key}`;
    const bridgeConf = {
      cniVersion: "1.0.0",
      name,
      type: "bridge",
      bridge: `ba${i}${made.tag}`.slice(0, 15),
      isGateway: true,
      ipam: { type: "host-local", subnet: `10.${210 + i}.0.0/16`, dataDir: path.join(made.tmp, `ipam-${d.key}`) },
    };
    const limits = { ingressRate: 10 * MBIT, ingressBurst: 524_288, egressRate: 10 * MBIT, egressBurst: 524_288 };
    const shaperConf = d.shaper ? { cniVersion: "1.0.0", name, type: d.shaper, ...limits, ...(d.shaper === "ebpf-bandwidth" ? { pinRoot: made.pins } : {}), ...(d.extra ?? {}) } : undefined;
    const pool = Array.from({ length: o.size }, (_, j) => addNetns(`battach-${d.key}${j}-${made.tag}`));
    return { key: d.key, label: d.label, bin: d.bin, ...(d.shaper ? { shaper: d.shaper } : {}), bridgeConf, ...(shaperConf ? { shaperConf } : {}), env, pool };
  });
}

// ---------------------------------------------------------------------------------------------
// Plugin calls and chains

interface CallResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

function pluginEnv(side: Side, verb: string, id: string, netns: string): Record<string, string> {
  return { ...side.env, CNI_COMMAND: verb, CNI_PATH: side.bin, CNI_CONTAINERID: id, CNI_NETNS: netnsPath(netns), CNI_IFNAME: "eth0" };
}

function call(side: Side, plugin: string, verb: string, id: string, netns: string, conf: unknown): Promise<CallResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const child = spawn("nsenter", [`--net=${netnsPath(made.node)}`, "--", path.join(side.bin, plugin)], { env: pluginEnv(side, verb, id, netns), stdio: "pipe" });
  made.inflight.add(child);
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  child.stdin.on("error", () => undefined); // a plugin may exit without reading its stdin
  child.stdin.end(JSON.stringify(conf));
  return new Promise((resolve) => {
    let done = false;
    const finish = (code: number | null, error?: string) => {
      if (done) return;
      done = true;
      made.inflight.delete(child);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ...(error ? { error } : {}) });
    };
    child.once("close", (code) => finish(code));
    child.once("error", (e) => finish(null, e.message));
  });
}

const failures: string[] = [];

function check(side: Side, what: string, r: CallResult): boolean {
  if (r.code === 0) return true;
  let why = r.error ?? (r.stdout || r.stderr).trim();
  try {
    const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
    why = `code ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ""}`;
  } catch {
    /* not a CNI error: keep the raw output */
  }
  failures.push(`${side.label}, ${what}: ${r.code === null ? "no exit status" : `exit ${r.code}`}: ${why.replace(/\s+/g, " ").slice(0, 300)}`);
  return false;
}

interface Chain {
  start: number;
  end: number;
  ok: boolean;
}

let serial = 0;

/** bridge ADD, then (shaped sides) the bandwidth plugin's ADD chained after it. */
async function chainAdd(side: Side, netns: string, what: string): Promise<Chain & { id: string }> {
  const id = `ba${made.tag}-${side.key}-${serial++}`;
  const start = nowMs();
  made.live.set(id, { side, netns });
  const b = await call(side, "bridge", "ADD", id, netns, side.bridgeConf);
  let ok = check(side, `${what}, bridge ADD`, b);
  if (ok) {
    const prevResult = JSON.parse(b.stdout) as unknown;
    made.live.set(id, { side, netns, prevResult });
    if (side.shaper) ok = check(side, `${what}, ${side.shaper} ADD`, await call(side, side.shaper, "ADD", id, netns, { ...side.shaperConf, prevResult }));
  }
  return { id, start, end: nowMs(), ok };
}

/** The bandwidth plugin's DEL, then the bridge's (libcni's order), with the cached prevResult. */
async function chainDel(id: string, what: string): Promise<Chain> {
  const { side, netns, prevResult } = made.live.get(id)!;
  const start = nowMs();
  const prev = prevResult ? { prevResult } : {};
  let ok = true;
  if (side.shaper) ok = check(side, `${what}, ${side.shaper} DEL`, await call(side, side.shaper, "DEL", id, netns, { ...side.shaperConf, ...prev }));
  const b = await call(side, "bridge", "DEL", id, netns, { ...side.bridgeConf, ...prev });
  if (check(side, `${what}, bridge DEL`, b) && ok) made.live.delete(id);
  else ok = false;
  return { start, end: nowMs(), ok };
}

interface Burst {
  start: number;
  end: number;
  wall: number;
  slowest: number;
  failed: number;
}

const burstOf = (chains: Chain[]): Burst => {
  const start = Math.min(...chains.map((c) => c.start));
  const end = Math.max(...chains.map((c) => c.end));
  return { start, end, wall: end - start, slowest: Math.max(...chains.map((c) => c.end - c.start)), failed: chains.filter((c) => !c.ok).length };
};

/** N chained ADDs at once, then their N chained DELs at once. */
async function burstPair(side: Side, what: string): Promise<{ add: Burst; del: Burst }> {
  const adds = await Promise.all(side.pool.map((netns) => chainAdd(side, netns, `${what}, ADD burst`)));
  const add = burstOf(adds);
  await sleep(SETTLE_MS);
  const del = burstOf(await Promise.all(adds.map((a) => chainDel(a.id, `${what}, DEL burst`))));
  // A container whose DEL failed still holds its interface: give the pool a fresh namespace.
  for (const a of adds) {
    const live = made.live.get(a.id);
    if (!live) continue;
    const i = side.pool.indexOf(live.netns);
    if (i >= 0) side.pool[i] = addNetns(`battach-${side.key}r${serial++}-${made.tag}`);
  }
  await sleep(SETTLE_MS);
  return { add, del };
}

// ---------------------------------------------------------------------------------------------
// The probe

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }
static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}
static char buf[1 << 16];

/* One request, read to its end (a dump's NLMSG_DONE, or the ACK). 0, or -errno. */
static int roundtrip(int fd, struct nlmsghdr *req) {
  if (send(fd, req, req->nlmsg_len, 0) < 0) return -errno;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR && !stop) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != req->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "dump") && strcmp(argv[1], "setlink"))) {
    fprintf(stderr, "usage: probe dump|setlink <interval-us> <out-file>\n");
    return 2;
  }
  const char *kind = argv[1];
  long interval_us = atol(argv[2]);
  FILE *out = fopen(argv[3], "w");
  if (!out) { perror(argv[2]); return 1; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked recv returns at once */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { perror("bind"); return 1; }
  struct { struct nlmsghdr h; struct ifinfomsg i; } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.i.ifi_family = AF_UNSPEC;
  if (!strcmp(kind, "dump")) {
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  } else {
    req.h.nlmsg_type = RTM_SETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.i.ifi_index = (int)if_nametoindex("lo"); /* no attributes, no flag change: changes nothing */
  }
  unsigned seq = 0;
  int rc = 0;
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    req.h.nlmsg_seq = ++seq;
    long long t0 = now_ns();
    int e = roundtrip(fd, &req.h);
    long long t1 = now_ns();
    if (e == -EINTR && stop) break;
    if (e) { fprintf(stderr, "%s: %s\n", kind, strerror(-e)); rc = 1; break; }
    fprintf(out, "%s %lld %lld\n", kind, t0, t1 - t0);
    struct timespec d = { interval_us / 1000000, (interval_us % 1000000) * 1000 };
    nanosleep(&d, NULL);
  }
  fclose(out);
  return rc;
}
`;

interface Sample {
  kind: "dump" | "setlink";
  /** CLOCK_MONOTONIC, ms. */
  start: number;
  ms: number;
}

function buildProbe(): string {
  const src = path.join(made.tmp, "rtnl-probe.c");
  const bin = path.join(made.tmp, "rtnl-probe");
  fs.writeFileSync(src, PROBE_C);
  const r = spawnSync("gcc", ["-O2", "-Wall", "-o", bin, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc rtnl-probe.c: ${r.error?.message ?? r.stderr}`);
  return bin;
}

/** Starts one probe loop in the node namespace; resolves once it loops. */
async function startProbe(bin: string, kind: Sample["kind"], o: Options): Promise<{ stop: () => Promise<Sample[]> }> {
  const out = path.join(made.tmp, `rtnl-probe-${kind}.out`);
  const child = spawn("nsenter", [`--net=${netnsPath(made.node)}`, "--", bin, kind, String(Math.round(o.intervalMs * 1000)), out], { stdio: ["ignore", "pipe", "pipe"] });
  made.probes.add(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("error", reject);
    void exited.then((code) => reject(new Error(`the probe exited ${code} before it started: ${stderr}`)));
  });
  return {
    stop: async () => {
      child.kill("SIGTERM");
      const code = await exited;
      made.probes.delete(child);
      if (code !== 0) throw new Error(`the probe exited ${code}: ${stderr}`);
      return fs
        .readFileSync(out, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const [kind, t0, ns] = l.split(" ");
          return { kind: kind as Sample["kind"], start: Number(t0) / 1e6, ms: Number(ns) / 1e6 };
        });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The daemon of the node namespace

/** A first call spawns the daemon; wait until it answers. */
async function warmDaemon(ours: Side): Promise<void> {
  made.daemon = { netns: netnsPath(made.node), ino: made.nodeIno, tscni: path.join(ours.bin, "tscni"), socket: `/run/tscni/tscni-${made.nodeIno}.sock` };
  const r = spawnSync("nsenter", [`--net=${netnsPath(made.node)}`, "--", path.join(ours.bin, "bridge")], { env: { ...ours.env, CNI_COMMAND: "VERSION" }, input: '{"cniVersion":"1.0.0"}', encoding: "utf8" });
  if (r.status !== 0) throw new Error(`first VERSION failed: ${r.stdout}${r.stderr}`);
  await waitForDaemon(made.daemon);
}

// ---------------------------------------------------------------------------------------------
// Clean-up (synchronous: it runs from process.on("exit") too)

function cleanup(): void {
  if (made.cleaned) return;
  made.cleaned = true;
  for (const p of made.probes) p.kill("SIGKILL");
  const until = Date.now() + 5000;
  while (made.inflight.size && [...made.inflight].some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < until) sleepSync(50);
  for (const c of made.inflight) c.kill("SIGKILL");
  for (const [id, { side, netns, prevResult }] of made.live) {
    const prev = prevResult ? { prevResult } : {};
    const steps: [string, unknown][] = [...(side.shaper ? [[side.shaper, { ...side.shaperConf, ...prev }] as [string, unknown]] : []), ["bridge", { ...side.bridgeConf, ...prev }]];
    for (const [plugin, conf] of steps) {
      const r = spawnSync("nsenter", [`--net=${netnsPath(made.node)}`, "--", path.join(side.bin, plugin)], { env: pluginEnv(side, "DEL", id, netns), input: JSON.stringify(conf), encoding: "utf8", timeout: 30_000 });
      if (r.status !== 0) process.stderr.write(`cleanup: ${plugin} DEL ${id} failed, left to the namespaces' removal: ${(r.error?.message ?? (r.stdout || r.stderr)).replace(/\s+/g, " ").slice(0, 300)}\n`);
    }
  }
  if (made.daemon) stopNodeDaemon(made.daemon);
  for (const n of made.namespaces.reverse()) spawnSync("ip", ["netns", "delete", n]);
  if (made.pins) spawnSync("umount", ["-l", made.pins]);
  if (made.tmp) fs.rmSync(made.tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
/** Nearest rank. */
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const fmt = (ms: number) => (!Number.isFinite(ms) ? "–" : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms).toLocaleString("en-US"));

interface Window {
  start: number;
  end: number;
}
const within = (samples: Sample[], kind: Sample["kind"], windows: Window[]) => samples.filter((s) => s.kind === kind && windows.some((w) => s.start >= w.start && s.start <= w.end)).map((s) => s.ms);

/**
 * Per kind of request: p50, p99 and max over every window, and how long that probe waited for
 * answers in one window (the sum of its requests' latencies; median over the windows).
 */
function probeCells(samples: Sample[], windows: Window[]): string {
  return (["dump", "setlink"] as const)
    .map((kind) => {
      const ms = within(samples, kind, windows);
      const waited = median(windows.map((w) => within(samples, kind, [w]).reduce((a, b) => a + b, 0)));
      return ms.length ? `${fmt(pct(ms, 50))} | ${fmt(pct(ms, 99))} | ${fmt(Math.max(...ms))} | ${fmt(waited)}` : "– | – | – | –";
    })
    .join(" | ");
}

const requestCounts = (samples: Sample[], windows: Window[]) => `${within(samples, "dump", windows).length} / ${within(samples, "setlink", windows).length}`;

interface SideRuns {
  side: Side;
  add: Burst[];
  del: Burst[];
}

function printTable(kind: "ADD" | "DEL", runs: SideRuns[], idle: Window[], samples: Sample[], o: Options): void {
  console.log(`## ${kind} bursts: ${o.size} chained ${kind}s at once (ms; wall and slowest chain: median of ${o.rounds} round${o.rounds > 1 ? "s" : ""}; probe: every request started during the bursts)`);
  console.log("");
  console.log("| plugins | burst wall | slowest chain | dump p50 | dump p99 | dump max | dump waited | setlink p50 | setlink p99 | setlink max | setlink waited | requests (dump / setlink) | failed chains |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  console.log(`| idle (no calls; ${o.idleMs} ms before each side's bursts) | – | – | ${probeCells(samples, idle)} | ${requestCounts(samples, idle)} | – |`);
  for (const r of runs) {
    const bursts = kind === "ADD" ? r.add : r.del;
    const failed = bursts.reduce((n, b) => n + b.failed, 0);
    console.log(`| ${r.side.label} | ${fmt(median(bursts.map((b) => b.wall)))} | ${fmt(median(bursts.map((b) => b.slowest)))} | ${probeCells(samples, bursts)} | ${requestCounts(samples, bursts)} | ${failed} |`);
  }
  console.log("");
  console.log(`waited: how long that probe's requests waited for their answers during one burst, in all (the sum of their latencies; median of the rounds; idle: per ${o.idleMs} ms window): how long the node's other rtnetlink users stood still during the burst.`);
  console.log("");
}

function printHeader(o: Options, baseline: number): void {
  const git = (...args: string[]) => spawnSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).stdout.trim();
  const head = `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--untracked-files=no") ? " + uncommitted changes" : ""}`;
  let built = "?";
  try {
    built = fs.statSync(o.tscni).mtime.toISOString();
  } catch {
    /* being rebuilt */
  }
  const exe = o.tscni === path.join(ROOT, "dist/tscni") ? `commit ${head}, dist/tscni built ${built}` : `${o.tscni} built ${built} (this checkout: commit ${head})`;
  console.log("# RTNL during bursts of shaped ADDs: tscni (shim → daemon; ebpf-bandwidth on TCX and on clsact) and the Go reference bridge + bandwidth");
  console.log("");
  console.log(`${new Date().toISOString()}; ${os.cpus().length} vCPU, kernel ${os.release()}, node ${process.version}; ${exe}.`);
  console.log(`Chains: bridge (isGateway) + host-local /16, then the bandwidth plugin with prevResult (10 Mbit/s, 64 KiB burst, each way); cniVersion 1.0.0; each shaped side keeps one more pod attached throughout.`);
  console.log(`Probes in the node namespace, two loops each sleeping ${o.intervalMs} ms between requests: RTM_GETLINK dumps (\`ip link show\`; ${fmt(baseline)} ms median when idle) and RTM_SETLINKs of lo that change nothing (they take RTNL, as any link change does).`);
  console.log(`Options: size ${o.size}; rounds ${o.rounds} (+1 warm-up); interval ${o.intervalMs} ms; idle ${o.idleMs} ms${o.smoke ? " (--smoke)" : ""}.`);
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
    const shape = f.replace(new RegExp(`ba${made.tag}-[a-z]+-\\d+`, "g"), "<id>");
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  console.log(`${failures.length} failed call(s):`);
  for (const [shape, n] of counts) console.log(`- ${n}× ${shape}`);
}

// ---------------------------------------------------------------------------------------------
// Main

function preflight(o: Options): void {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces, bridges, bpffs)");
  if (!fs.existsSync(o.tscni)) throw new Error(`${o.tscni} missing: run npm run build`);
  for (const p of ["bridge", "host-local", "bandwidth"]) if (!fs.existsSync(`${REFERENCE_DIR}/${p}`)) throw new Error(`${REFERENCE_DIR}/${p} missing: apt-get install containernetworking-plugins`);
  for (const tool of ["ip", "nsenter", "gcc"]) if (spawnSync("which", [tool]).status !== 0) throw new Error(`${tool} missing`);
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  preflight(o);
  made.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-attach-"));
  made.pins = path.join(made.tmp, "bpf");
  fs.mkdirSync(made.pins);
  const m = spawnSync("mount", ["-t", "bpf", "bpf", made.pins], { encoding: "utf8" });
  if (m.status !== 0) {
    made.pins = "";
    throw new Error(`mount -t bpf: ${m.stderr}`);
  }
  made.node = addNetns(`battach-node-${made.tag}`);
  made.nodeIno = fs.statSync(netnsPath(made.node)).ino;
  const probeBin = buildProbe();

  // The installed copy is what runs: a rebuild of dist/ during the run changes nothing.
  const oursBin = path.join(made.tmp, "bin-ours");
  fs.mkdirSync(oursBin);
  const inst = spawnSync(o.tscni, ["install", "--dir", oursBin], { env: { PATH: BASE_PATH }, encoding: "utf8" });
  if (inst.status !== 0) throw new Error(`${o.tscni} install failed: ${inst.error?.message ?? inst.stderr}`);

  progress(`creating ${5 * o.size} container namespaces`);
  const sides = makeSides(o, oursBin);
  await warmDaemon(sides.find((s) => s.key === "tcx")!);

  // One pod per shaped side attached for the whole run. Without TCX (kernels < 6.6) "attach": "tcx"
  // is refused with code 50: that side is left out, and said so.
  let notes = "";
  for (const side of [...sides.filter((s) => s.shaper)]) {
    const c = await chainAdd(side, addNetns(`battach-${side.key}res-${made.tag}`), "resident pod");
    if (c.ok) continue;
    if (side.key === "tcx" && failures.at(-1)?.includes("code 50:")) {
      notes += `(${side.label} left out: ${failures.pop()})\n`;
      sides.splice(sides.indexOf(side), 1);
      continue;
    }
    throw new Error(`${side.label}: the resident pod's ADD failed: ${failures.at(-1)}`);
  }
  // Two loops, one per kind of request, so that one blocked request does not hold back the other.
  const probes = [await startProbe(probeBin, "dump", o), await startProbe(probeBin, "setlink", o)];
  progress("warm-up round");
  for (const side of sides) await burstPair(side, "warm-up");
  const runs: SideRuns[] = sides.map((side) => ({ side, add: [], del: [] }));
  const idle: Window[] = [];
  for (let round = 0; round < o.rounds; round++) {
    // Rotate the order, so that no side always follows the same one.
    for (let k = 0; k < runs.length; k++) {
      const r = runs[(k + round) % runs.length]!;
      const t = nowMs();
      await sleep(o.idleMs);
      idle.push({ start: t, end: nowMs() });
      const b = await burstPair(r.side, `round ${round + 1}`);
      r.add.push(b.add);
      r.del.push(b.del);
      progress(`round ${round + 1}, ${r.side.label}: ADD burst ${fmt(b.add.wall)} ms, DEL burst ${fmt(b.del.wall)} ms`);
    }
  }
  const samples = (await Promise.all(probes.map((p) => p.stop()))).flat();
  const idleDumps = within(samples, "dump", idle);
  if (daemonControl(made.daemon!, "status", 10_000) !== 0) failures.push("ours: the daemon no longer answers `daemon status` at the end of the run");

  printHeader(o, idleDumps.length ? median(idleDumps) : NaN);
  if (notes) console.log(notes);
  printTable("ADD", runs, idle, samples, o);
  printTable("DEL", runs, idle, samples, o);
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
