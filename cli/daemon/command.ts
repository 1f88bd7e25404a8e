// The `tscni daemon` command line: run the daemon, or ask a running one for its status or to stop.
import { BUILD_DIGEST } from "../self";
import { control, type StatusInfo } from "./control";
import { netnsUsers } from "./netns-usage";
import { DEFAULT_POLICY } from "./pool";
import { defaultSocketPath, serve, STOP_GRACE_MS } from "./server";

export interface DaemonArgs {
  action: "run" | "status" | "stop";
  socket?: string;
  /** Seconds; 0 = never. A daemon spawned by a shim without one exits after SPAWNED_IDLE_EXIT_S. */
  idleExit: number;
  spawned: boolean;
  lockFd?: number;
  readDeadlineMs?: number | undefined;
  maxRequestBytes?: number | undefined;
  /** run: how long past its own deadline a request may run before the daemon answers for it. */
  deadlineGraceMs?: number | undefined;
  /** run: request worker threads kept warm, and the most there may be. */
  minWorkers?: number | undefined;
  maxWorkers?: number | undefined;
  /** run (tests): how long a worker beyond the warm ones may idle before it is retired. */
  retireAfterMs?: number | undefined;
  /** status: print the daemon's answer as JSON. */
  json?: boolean;
  /** stop: end requests in flight at once instead of waiting for them. */
  force?: boolean;
  /** stop: how long to wait for requests in flight. */
  graceMs?: number | undefined;
  /** run: seconds between checks that anything but the daemon still uses its namespace (0: never). */
  netnsCheck?: number | undefined;
}

export const SPAWNED_IDLE_EXIT_S = 600;
/** A namespace nobody else uses is noticed within this many seconds. */
export const NETNS_CHECK_S = 20;

const say = (s: string) => process.stdout.write(`${s}\n`);
const mib = (n: number) => (n / 1048576).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(1);

/** What `tscni daemon status` prints. */
export function formatStatus(st: StatusInfo, buildDigest: string, now: number): string {
  const up = ((now - st.startedMs) / 1000).toFixed(0);
  const c = st.counts;
  const w = st.workers;
  const lines = [
    `tscni daemon pid ${st.pid} on ${st.socket}: up ${up} s, ${c.served} requests, build ${st.digest}` +
      `${st.digest === buildDigest ? "" : ` (this tscni is build ${buildDigest}: its shims fall back to exec)`}` +
      `${st.spawned ? ", spawned on demand" : ""}${st.stopping ? ", STOPPING" : ""}`,
    `  requests: ${c.served} served (${c.failed} failed, ${c.timedOut} timed out), ${c.cancelled} cancelled by their caller, ${c.refused} refused, ${c.abandoned} abandoned`,
    `  workers: ${w.busy} busy, ${w.idle} idle, ${w.starting} starting; ${w.queued} connections waiting`,
    `  memory: rss ${mib(st.rssBytes)} MiB, heap ${mib(st.heapUsedBytes)} MiB, workers' heaps ${mib(st.workersHeapUsedBytes)} MiB`,
  ];
  if (st.inFlight.length === 0) lines.push("  in flight: none");
  else {
    lines.push(`  in flight: ${st.inFlight.length}`);
    for (const r of st.inFlight) {
      const where = [r.containerID && `container ${r.containerID}`, r.network && `network ${r.network}`].filter(Boolean).join(", ");
      lines.push(`    ${r.plugin} ${r.verb}${where ? ` (${where})` : ""}: ${secs(r.ageMs)} s${r.leftMs >= 0 ? `, gives up in ${secs(r.leftMs)} s` : `, ${secs(-r.leftMs)} s past its deadline`}`);
    }
  }
  return lines.join("\n");
}

export async function daemonCommand(a: DaemonArgs): Promise<number> {
  const socket = a.socket ?? defaultSocketPath();
  if (a.action === "status") {
    const answers = await control(socket, { op: "status" }, 2_000);
    const st = answers?.find((x): x is { status: StatusInfo } => "status" in x)?.status;
    if (!st) {
      say(`no daemon at ${socket}`);
      return 3; // as `systemctl status` says "not running"
    }
    say(a.json ? JSON.stringify(st) : formatStatus(st, BUILD_DIGEST, Date.now()));
    return 0;
  }
  if (a.action === "stop") {
    const grace = a.graceMs ?? STOP_GRACE_MS;
    const answers = await control(socket, { op: "stop", force: !!a.force, graceMs: grace }, grace + 5_000);
    const begun = answers?.find((x): x is { stopping: StatusInfo } => "stopping" in x)?.stopping;
    if (!begun) {
      say(`no daemon at ${socket}`);
      return 0;
    }
    const stopped = answers!.find((x): x is { stopped: { pid: number; abandoned: number } } => "stopped" in x)?.stopped;
    if (!stopped) {
      say(`tscni daemon pid ${begun.pid} is stopping but did not finish within ${grace + 5_000} ms`);
      return 1;
    }
    say(`stopped tscni daemon pid ${begun.pid}${begun.inFlight.length ? ` (${begun.inFlight.length} requests were in flight; ${stopped.abandoned} ended unfinished)` : ""}`);
    return 0;
  }
  // libuv's thread pool is shared by every worker thread of the process, and a DEL writes its veth
  // deletion (tens of ms in the kernel) from it: at the default of 4, no more than 4 DELs of a
  // burst could wait on the kernel at once. Read when the pool first starts, after this line.
  const policy = { minWorkers: a.minWorkers ?? DEFAULT_POLICY.minWorkers, maxWorkers: a.maxWorkers ?? DEFAULT_POLICY.maxWorkers, retireAfterMs: a.retireAfterMs ?? DEFAULT_POLICY.retireAfterMs };
  if (!(policy.minWorkers >= 1 && policy.maxWorkers >= policy.minWorkers && policy.maxWorkers <= 256)) {
    process.stderr.write(`tscni daemon: need 1 <= --min-workers <= --max-workers <= 256\n`);
    return 2;
  }
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, policy.maxWorkers));
  const idleExitMs = (a.idleExit || (a.spawned ? SPAWNED_IDLE_EXIT_S : 0)) * 1000;
  // A daemon that outlives a request's failure is the point: log to stderr (journald / kubectl logs).
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const code = await serve({
    socket, digest: BUILD_DIGEST, idleExitMs, spawned: a.spawned, ...(a.lockFd !== undefined ? { lockFd: a.lockFd } : {}),
    ...(a.readDeadlineMs ? { readDeadlineMs: a.readDeadlineMs } : {}), ...(a.maxRequestBytes ? { maxRequestBytes: a.maxRequestBytes } : {}),
    ...(a.deadlineGraceMs ? { graceMs: a.deadlineGraceMs } : {}), policy, netnsCheckMs: (a.netnsCheck ?? NETNS_CHECK_S) * 1000, netnsUsed: (ino) => netnsUsers(ino, process.pid), log,
  }, async () => {
    await control(socket, { op: "stop", force: false }, STOP_GRACE_MS + 5_000).catch(() => undefined);
  });
  // Threads abandoned in the kernel must not keep the process: leave once the log is written.
  process.stderr.write("", () => process.exit(code));
  return code;
}
