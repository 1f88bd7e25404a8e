// The `tscni daemon` command line: run the daemon, or ask a running one for its status or to stop.
import { BUILD_DIGEST } from "../self";
import { control } from "./control";
import { defaultSocketPath, serve } from "./server";

export interface DaemonArgs {
  action: "run" | "status" | "stop";
  socket?: string;
  /** Seconds; 0 = never. A daemon spawned by a shim without one exits after SPAWNED_IDLE_EXIT_S. */
  idleExit: number;
  spawned: boolean;
  lockFd?: number;
  readDeadlineMs?: number | undefined;
  maxRequestBytes?: number | undefined;
}

export const SPAWNED_IDLE_EXIT_S = 600;

const say = (s: string) => process.stdout.write(`${s}\n`);
const mib = (n: number) => (n / 1048576).toFixed(1);

export async function daemonCommand(a: DaemonArgs): Promise<number> {
  const socket = a.socket ?? defaultSocketPath();
  if (a.action === "status") {
    const st = await control(socket, "status");
    if (!st) {
      say(`no daemon at ${socket}`);
      return 3; // as `systemctl status` says "not running"
    }
    const up = ((Date.now() - st.startedMs) / 1000).toFixed(0);
    say(`tscni daemon pid ${st.pid} on ${st.socket}: up ${up} s, ${st.served} requests, build ${st.digest}${st.digest === BUILD_DIGEST ? "" : ` (this tscni is build ${BUILD_DIGEST}: its shims fall back to exec)`}${st.spawned ? ", spawned on demand" : ""}${st.rssBytes ? `, rss ${mib(st.rssBytes)} MiB, heap ${mib(st.heapUsedBytes ?? 0)} MiB` : ""}`);
    return 0;
  }
  if (a.action === "stop") {
    const st = await control(socket, "stop");
    say(st ? `stopped tscni daemon pid ${st.pid}` : `no daemon at ${socket}`);
    return 0;
  }
  const idleExitMs = (a.idleExit || (a.spawned ? SPAWNED_IDLE_EXIT_S : 0)) * 1000;
  // A daemon that outlives a request's failure is the point: log to stderr (journald / kubectl logs).
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  return serve({ socket, digest: BUILD_DIGEST, idleExitMs, spawned: a.spawned, ...(a.lockFd !== undefined ? { lockFd: a.lockFd } : {}),
    ...(a.readDeadlineMs ? { readDeadlineMs: a.readDeadlineMs } : {}), ...(a.maxRequestBytes ? { maxRequestBytes: a.maxRequestBytes } : {}), log }, async () => {
    await control(socket, "stop").catch(() => undefined);
  });
}
