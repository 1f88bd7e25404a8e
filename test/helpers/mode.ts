// The two ways our plugins run, and every integration test runs in both (scripts/test.sh):
//   resident  the runtime execs a shim, which hands the call to `tscni daemon` (spawned on the first
//             call in each node namespace, or started by startDaemon for harnesses that run plugins
//             in a private mount namespace);
//   fallback  the shim finds no daemon and execs the single executable (TSCNI_NO_DAEMON=1).
// Chosen by TSCNI_TEST_MODE (default resident). Children (libcni, podman) inherit the variable.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { controlPath, type StatusInfo } from "../../cli/daemon/control";
import { sleepSync, untilValue } from "./wait";

export type Mode = "resident" | "fallback";
export const MODE: Mode = process.env.TSCNI_TEST_MODE === "fallback" ? "fallback" : "resident";
if (MODE === "fallback") process.env.TSCNI_NO_DAEMON = "1";

/** What a test that builds a plugin's environment itself adds to it, so that the mode holds. */
export const modeEnv = (): Record<string, string> => (MODE === "fallback" ? { TSCNI_NO_DAEMON: "1" } : {});

// import.meta.url, not __dirname: the reliability scripts load this module as ESM under tsx.
const DIST_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/tscni");

/** The daemon socket for a network namespace (what the shim computes from its netns inode). */
export function daemonSocket(nsPath: string): string | undefined {
  try {
    return `/run/tscni/tscni-${fs.statSync(nsPath).ino}.sock`;
  } catch {
    return undefined;
  }
}

export interface DaemonStatus {
  pid: number;
  served: number;
  digest: string;
  /** Everything `tscni daemon status --json` says. */
  info: StatusInfo;
}

/** What `tscni daemon status` says about the daemon of `nsPath` (or at `socket`); undefined: none answers. */
export function daemonStatus(nsPath: string, socket = daemonSocket(nsPath)): DaemonStatus | undefined {
  if (!socket || !fs.existsSync(socket)) return undefined;
  const r = spawnSync("nsenter", [`--net=${nsPath}`, DIST_BIN, "daemon", "status", "--json", "--socket", socket], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (r.status !== 0) return undefined;
  const info = JSON.parse(r.stdout) as StatusInfo;
  return { pid: info.pid, served: info.counts.served, digest: info.digest, info };
}

/** Wait (up to 5 s) until a daemon answers for `nsPath`: a shim starts one detached, after its own call. */
export async function waitForDaemon(nsPath: string, socket?: string): Promise<DaemonStatus> {
  return untilValue(() => daemonStatus(nsPath, socket), `a daemon to answer for ${nsPath}`, 5_000, 50);
}

/** Stop the daemon serving `nsPath`, if any (it would keep the namespace alive). */
export function stopDaemon(nsPath: string): void {
  const sock = daemonSocket(nsPath);
  if (!sock || !fs.existsSync(DIST_BIN)) return;
  // A daemon a shim has just spawned holds its lock before its socket exists: wait for the socket.
  const lock = `${sock}.lock`;
  if (!fs.existsSync(sock) && (!fs.existsSync(lock) || spawnSync("flock", ["-n", lock, "true"]).status === 0)) return;
  for (let i = 0; i < 60 && !fs.existsSync(sock) && fs.existsSync(`${sock}.lock`); i++) sleepSync(50);
  if (!fs.existsSync(sock)) return;
  spawnSync(DIST_BIN, ["daemon", "stop", "--socket", sock], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 10_000 });
  // A daemon that was killed leaves its socket: a namespace made later may get the same inode.
  if (spawnSync("flock", ["-n", lock, "true"]).status === 0) {
    fs.rmSync(sock, { force: true });
    fs.rmSync(controlPath(sock), { force: true });
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Resident mode: start a configured daemon in node namespace `nodeName` (as a DaemonSet would run
 * one), in a private mount namespace where `bpffs` is bound on /sys/fs/bpf when given. Returns
 * once it answers; stopped by the returned function. Fallback mode: nothing.
 */
export async function startDaemon(nodeName: string, bpffs?: string): Promise<() => void> {
  return startDaemonSync(nodeName, bpffs);
}

/** startDaemon for synchronous set-ups. */
export function startDaemonSync(nodeName: string, bpffs?: string): () => void {
  if (MODE !== "resident" || !fs.existsSync(DIST_BIN)) return () => {};
  const nsPath = `/var/run/netns/${nodeName}`;
  const sock = daemonSocket(nsPath)!;
  const argv = bpffs
    ? ["netns", "exec", nodeName, "sh", "-c", 'mount --bind "$0" /sys/fs/bpf && exec "$@"', bpffs, DIST_BIN, "daemon", "--socket", sock]
    : ["netns", "exec", nodeName, DIST_BIN, "daemon", "--socket", sock];
  const child = spawn("ip", argv, { stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) sleepSync(25);
  return () => {
    stopDaemon(nsPath);
    child.kill();
  };
}
