// Benchmark: pod sandboxes through containerd's CRI (Debian's 1.6, a private instance in a
// throwaway node namespace, offline pause image) on our plugins — through the resident daemon and
// by exec (TSCNI_NO_DAEMON=1) — and on the Go reference plugins, same run, same conflist
// (bridge + host-local + bandwidth capability; containerd runs loopback itself).
//
//   npm run build && npx tsx scripts/bench-cri.ts [--pods 15] [--rounds 5] [--flows 3] [--seconds 10] [--smoke]
//   npx tsx scripts/bench-cri.ts --flows-only --ours-conf '{"queueMs":20}' --ours-conf '{}' [--no-reference]
//       shaped flows only; ours once per --ours-conf (keys added to ebpf-bandwidth's conflist entry)
//
// Per pod: RunPodSandbox, StopPodSandbox, RemovePodSandbox one pod at a time (--pods, after one
// warm-up pod), without and with bandwidth annotations. Four at once: the same three calls for 4
// pods in parallel (--rounds). Shaped flows: two pods annotated 10M/10M, which containerd passes
// with its 2^32-1-bit burst; iperf3 TCP for --seconds (first second omitted) each way, --flows
// times: goodput and retransmits per flow (iperf3's, and the kernel's counters in the sending pod:
// segments retransmitted, DSACKs; the node's qdisc drops). Median and p90 (nearest rank) of each.
// --smoke: --pods 1 --rounds 1 --flows 1 --seconds 1 unless given: every variant and both tables
// (≈ 30 s; for test/integration/benchmarks.test.ts). Like the CRI tests it runs one containerd
// at a time on the machine (test/cri/world.ts takes a lock per containerd): it waits while they run.
// Root only; never touches the root network namespace. Prints markdown tables.
import * as path from "node:path";
import type { World } from "../test/cri/world";

// A Node start reads NODE_EXTRA_CA_CERTS (this machine sets it: ~90 ms per start); no CNI runtime
// has it. containerd gets a clean environment anyway; nothing else started here should see it.
delete process.env.NODE_EXTRA_CA_CERTS;
// The test helpers are written for vitest (CommonJS `__dirname`); under tsx that is a free global.
(globalThis as { __dirname?: string }).__dirname = path.resolve(import.meta.dirname, "../test/helpers");
const { NsScope } = await import("../test/helpers/netns");
const { startWorld, stopWorld, podConfig, podNetns, iperf, inNetns } = await import("../test/cri/world");

const argv = process.argv.slice(2);
const arg = (name: string, d: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : d);
const SMOKE = argv.includes("--smoke");
const PODS = arg("--pods", SMOKE ? 1 : 15);
const ROUNDS = arg("--rounds", SMOKE ? 1 : 5);
const FLOWS = arg("--flows", SMOKE ? 1 : 3);
const SECONDS = arg("--seconds", SMOKE ? 1 : 10);
const FLOWS_ONLY = argv.includes("--flows-only");
const OURS_CONFS = argv.flatMap((a, i) => (a === "--ours-conf" ? [JSON.parse(argv[i + 1]!) as Record<string, unknown>] : []));
const REFERENCE = !argv.includes("--no-reference");
const SHAPED = { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "10M" };

interface Variant {
  label: string;
  side: "ours" | "reference";
  env: Record<string, string>;
  bandwidthConf?: Record<string, unknown>;
}
const VARIANTS: Variant[] = [
  ...(OURS_CONFS.length
    ? OURS_CONFS.map((c): Variant => ({ label: `ours ${JSON.stringify(c)}`, side: "ours", env: {}, bandwidthConf: c }))
    : [
        { label: "ours (daemon)", side: "ours", env: {} },
        { label: "ours (exec)", side: "ours", env: { TSCNI_NO_DAEMON: "1" } },
      ] satisfies Variant[]),
  ...(REFERENCE ? [{ label: "reference", side: "reference", env: {} } satisfies Variant] : []),
];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const fmt = (xs: number[]) => `${pct(xs, 50).toFixed(0)} | ${pct(xs, 90).toFixed(0)}`;
const timed = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

interface Lifecycle {
  run: number[];
  stop: number[];
  remove: number[];
}
const lifecycle = (): Lifecycle => ({ run: [], stop: [], remove: [] });

let serial = 0;
async function onePod(w: World, annotations: Record<string, string>, into?: Lifecycle) {
  let id = "";
  const run = await timed(async () => (id = await w.ctd.cri.runPodSandbox(podConfig(w, `p${serial++}`, annotations))));
  const stop = await timed(() => w.ctd.cri.stopPodSandbox(id));
  const remove = await timed(() => w.ctd.cri.removePodSandbox(id));
  into?.run.push(run);
  into?.stop.push(stop);
  into?.remove.push(remove);
}

async function fourAtOnce(w: World, into: Lifecycle) {
  let ids: string[] = [];
  into.run.push(await timed(async () => (ids = await Promise.all([0, 1, 2, 3].map(() => w.ctd.cri.runPodSandbox(podConfig(w, `q${serial++}`)))))));
  into.stop.push(await timed(() => Promise.all(ids.map((id) => w.ctd.cri.stopPodSandbox(id)))));
  into.remove.push(await timed(() => Promise.all(ids.map((id) => w.ctd.cri.removePodSandbox(id)))));
}

interface Flow {
  bps: number;
  /** iperf3's figure: the measured seconds only. */
  retransmits: number;
  /** The kernel's, in the sending pod's namespace, whole flow: segments retransmitted, DSACKs received. */
  retransSegs: number;
  dsacks: number;
  /** Packets dropped by the node's qdiscs during the flow (HTB roots left out: they sum their leaves). */
  qdiscDrops: number;
}
interface FlowStats {
  egress: Flow[];
  ingress: Flow[];
}

function tcpCounters(ns: string): Record<string, number> {
  // -s: leave nstat's history file alone (it is per user, not per namespace).
  const out = inNetns(ns, "nstat", ["-asz", "TcpRetransSegs", "TcpExtTCPDSACKRecv"]).stdout;
  return Object.fromEntries(out.split("\n").filter((l) => l.startsWith("Tcp")).map((l) => [l.split(/\s+/)[0]!, Number(l.split(/\s+/)[1])]));
}

function qdiscDrops(w: World): number {
  // Every link of the node namespace (not /sys/class/net: nsenter keeps the host's /sys).
  const out = inNetns(w.node.path, "sh", ["-c", "for d in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do tc -s qdisc show dev $d; done"]).stdout;
  return [...out.matchAll(/^qdisc (\S+) [^\n]*\n Sent \d+ bytes \d+ pkt \(dropped (\d+)/gm)].filter((m) => m[1] !== "htb").reduce((a, m) => a + Number(m[2]), 0);
}

async function measuredFlow(w: World, srvNs: string, srvIp: string, cliNs: string, reverse: boolean): Promise<Flow> {
  const sender = reverse ? srvNs : cliNs;
  const [c0, d0] = [tcpCounters(sender), qdiscDrops(w)];
  const f = await iperf(srvNs, srvIp, cliNs, { seconds: SECONDS, reverse });
  const c1 = tcpCounters(sender);
  const diff = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0);
  return { ...f, retransSegs: diff("TcpRetransSegs"), dsacks: diff("TcpExtTCPDSACKRecv"), qdiscDrops: qdiscDrops(w) - d0 };
}

async function shapedFlows(w: World): Promise<FlowStats> {
  const [srv, cli] = await Promise.all([w.ctd.cri.runPodSandbox(podConfig(w, `srv${serial++}`)), w.ctd.cri.runPodSandbox(podConfig(w, `cli${serial++}`, SHAPED))]);
  const s = await w.ctd.cri.podSandboxStatus(srv);
  const c = await w.ctd.cri.podSandboxStatus(cli);
  const out: FlowStats = { egress: [], ingress: [] };
  for (let i = 0; i < FLOWS; i++) {
    out.egress.push(await measuredFlow(w, podNetns(s), s.ip, podNetns(c), false));
    out.ingress.push(await measuredFlow(w, podNetns(s), s.ip, podNetns(c), true));
  }
  for (const id of [srv, cli]) {
    await w.ctd.cri.stopPodSandbox(id);
    await w.ctd.cri.removePodSandbox(id);
  }
  return out;
}

// Ctrl-C (or the smoke test's SIGINT to the process group, which containerd and iperf3 get too)
// must not leave pods behind: their shims and pause processes outlive containerd, the pods'
// namespaces stay mounted under its state directory, and pins and cgroups outlive the node
// namespace. So whichever comes first — the signal handler, or the error the killed iperf3 makes
// the main flow throw — stops the world (over CRI while containerd answers, then by pid and
// umount) before the scope is cleaned up. Bounded, in case containerd hangs.
let current: { scope: InstanceType<typeof NsScope>; w?: World; stopping?: Promise<void> } | undefined;
const stopCurrent = (): Promise<void> => {
  const c = current;
  if (!c?.w) return Promise.resolve();
  c.stopping ??= stopWorld(c.w).then(() => undefined, () => undefined);
  return c.stopping;
};
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`${sig}: stopping the pods and containerd, removing what this run made\n`);
    const done = () => {
      current?.scope.cleanup();
      process.exit(130);
    };
    setTimeout(done, 30_000);
    void stopCurrent().then(done);
  });
}

const results: { v: Variant; plain: Lifecycle; shaped: Lifecycle; four: Lifecycle; flows: FlowStats }[] = [];
for (const [i, v] of VARIANTS.entries()) {
  const scope = new NsScope();
  current = { scope };
  try {
    process.stderr.write(`${v.label}: starting containerd\n`);
    const w = await startWorld(scope, v.side, `10.89.${i}.0/24`, { env: v.env, ...(v.bandwidthConf ? { bandwidthConf: v.bandwidthConf } : {}) });
    current.w = w;
    await w.ctd.waitReady();
    await onePod(w, {}); // warm-up: the first call starts the daemon and fills caches
    const plain = lifecycle();
    const shaped = lifecycle();
    const four = lifecycle();
    if (!FLOWS_ONLY) {
      for (let p = 0; p < PODS; p++) await onePod(w, {}, plain);
      for (let p = 0; p < PODS; p++) await onePod(w, SHAPED, shaped);
      for (let r = 0; r < ROUNDS; r++) await fourAtOnce(w, four);
    }
    process.stderr.write(`${v.label}: shaped flows\n`);
    const flows = await shapedFlows(w);
    const left = await stopWorld(w);
    if (left.processes.length || left.mounts.length) process.stderr.write(`${v.label}: left behind ${JSON.stringify(left)}\n`);
    results.push({ v, plain, shaped, four, flows });
  } catch (e) {
    await stopCurrent();
    if (interrupted) await new Promise(() => undefined); // the handler exits
    throw e;
  } finally {
    scope.cleanup();
  }
}

const os = await import("node:os");
process.stdout.write(`\nCRI pod sandboxes: containerd 1.6.20 (Debian), ${os.cpus().length} CPUs, kernel ${os.release()}; ${PODS} pods one at a time after a warm-up, ${ROUNDS} rounds of 4 at once; ms, median and p90\n\n`);
if (!FLOWS_ONLY) process.stdout.write("| plugins | pods | Run p50 | Run p90 | Stop p50 | Stop p90 | Remove p50 | Remove p90 |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
for (const r of FLOWS_ONLY ? [] : results) {
  for (const [label, l] of [["1 at a time", r.plain], ["1 at a time, annotated 10M/10M", r.shaped], ["4 at once", r.four]] as const) {
    process.stdout.write(`| ${r.v.label} | ${label} | ${fmt(l.run)} | ${fmt(l.stop)} | ${fmt(l.remove)} |\n`);
  }
}
process.stdout.write(`\nShaped pod, 10M/10M annotations (containerd's burst 2^32-1 bits): iperf3 TCP ${SECONDS} s per flow (+1 s omitted), ${FLOWS} flows each way\n\n`);
process.stdout.write("| plugins | direction | goodput Mbit/s per flow | retransmits per flow (iperf3) | segments retransmitted (kernel) | of them DSACKed | qdisc drops on the node |\n|---|---|---|---|---|---|---|\n");
for (const r of results) {
  for (const [dir, fl] of [["from the pod (egress)", r.flows.egress], ["to the pod (ingress)", r.flows.ingress]] as const) {
    const col = (f: (x: Flow) => number | string) => fl.map(f).join(", ");
    process.stdout.write(`| ${r.v.label} | ${dir} | ${col((f) => (f.bps / 1e6).toFixed(2))} | ${col((f) => f.retransmits)} | ${col((f) => f.retransSegs)} | ${col((f) => f.dsacks)} | ${col((f) => f.qdiscDrops)} |\n`);
  }
}
