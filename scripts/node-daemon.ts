// The benchmarks' handle on the daemon their first call spawned in the throwaway node namespace:
// ask it (status/stop), wait for it, and make sure nothing of it outlives the run.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

export interface NodeDaemon {
  /** /var/run/netns/<node> and its inode (the daemon's socket is named after it). */
  netns: string;
  ino: number;
  /** The executable the shims hand over to, and the daemon's socket. */
  tscni: string;
  socket: string;
}

const BASE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** `tscni daemon <action>` in the node namespace: its exit status (null when it timed out). */
export function daemonControl(d: NodeDaemon, action: "status" | "stop", timeoutMs: number): number | null {
  return spawnSync("nsenter", [`--net=${d.netns}`, "--", d.tscni, "daemon", action, "--socket", d.socket], { env: { PATH: BASE_PATH }, stdio: "ignore", timeout: timeoutMs }).status;
}

/** After the call that spawned it: until the daemon answers, at most 30 s. */
export async function waitForDaemon(d: NodeDaemon): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (daemonControl(d, "status", 10_000) !== 0) {
    if (Date.now() > deadline) throw new Error(`no daemon answers on ${d.socket} 30 s after the first call`);
    await sleep(100);
  }
}

function pidsInNetns(ino: number): number[] {
  const want = `net:[${ino}]`;
  return fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/net`) === want;
    } catch {
      return false;
    }
  });
}

/** Ask the daemon to stop; whatever still runs in the node namespace after that is ours to end. Synchronous (runs from process.on("exit")). */
export function stopNodeDaemon(d: NodeDaemon): void {
  if (daemonControl(d, "stop", 20_000) !== 0) process.stderr.write(`cleanup: tscni daemon stop --socket ${d.socket} failed\n`);
  for (const [signal, waitMs] of [["SIGTERM", 5000], ["SIGKILL", 2000]] as const) {
    const until = Date.now() + waitMs;
    while (pidsInNetns(d.ino).length && Date.now() < until) sleepSync(50);
    const left = pidsInNetns(d.ino);
    if (!left.length) return;
    process.stderr.write(`cleanup: still in the node namespace: pids ${left.join(", ")}: ${signal}\n`);
    for (const pid of left) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
  }
}
