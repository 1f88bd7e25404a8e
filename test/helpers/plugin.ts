// Run plugins as a runtime does: a process with CNI_* variables and the config on stdin, inside a
// given "node" namespace. Uses the built executable (dist/tscni, installed under the plugin names
// into a private bin dir) when present, else wrapper scripts that run the TypeScript through tsx.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MODE } from "./mode";
import type { Netns, NsScope } from "./netns";

export const REPO = path.resolve(__dirname, "../..");
export const DIST_BIN = path.join(REPO, "dist/tscni");
export const REFERENCE_DIR = "/usr/lib/cni";
export const PLUGINS = ["bridge", "host-local", "ebpf-bandwidth", "loopback"] as const;

let binDir: string | undefined;

/**
 * A private CNI bin directory holding our plugins (made once per test process): `tscni install`'s
 * layout (the executable + a shim under each plugin name) when built, else wrapper scripts that
 * run the TypeScript through tsx.
 */
export function ourBinDir(): string {
  if (binDir) return binDir;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-bin-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  if (fs.existsSync(DIST_BIN)) {
    const r = spawnSync(DIST_BIN, ["install", "--dir", dir], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    if (r.status !== 0) throw new Error(`tscni install failed: ${r.stderr}`);
  } else {
    for (const name of PLUGINS) {
      const tsx = path.join(REPO, "node_modules/tsx/dist/loader.mjs");
      fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nexec node --import ${tsx} ${path.join(REPO, "cli/main.ts")} plugin ${name}\n`, { mode: 0o755 });
    }
  }
  binDir = dir;
  return dir;
}

export const usingBuiltBinary = () => fs.existsSync(DIST_BIN);

/** `tscni install` (the executable and the shims) into a fresh directory of `scope`. */
export function installInto(scope: NsScope, prefix = "tscni-inst-"): string {
  const dir = scope.tmpdir(prefix);
  const r = spawnSync(DIST_BIN, ["install", "--dir", dir], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`tscni install failed: ${r.stderr}`);
  return dir;
}

export const haveReference = (name = "bridge") => fs.existsSync(path.join(REFERENCE_DIR, name));

export interface ExecOptions {
  command: "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" | "VERSION" | string;
  config: object | string;
  containerID?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** CNI_PATH; defaults to the directory the plugin is taken from. */
  path?: string;
  /** Run inside this namespace (the "node"); default: the test process's namespace. */
  node?: Netns;
  /** Directory to take the plugin from; default ourBinDir(). */
  binDir?: string;
  /** Replace the whole environment (for bad-environment tests). */
  rawEnv?: Record<string, string>;
  extraEnv?: Record<string, string>;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON. */
  json: any;
}

/** The process a runtime would exec for `name` with `o`: command, argv, environment, stdin. */
function invocation(name: string, o: ExecOptions) {
  const dir = o.binDir ?? ourBinDir();
  const bin = path.join(dir, name);
  const env: Record<string, string> = o.rawEnv ?? {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: o.command,
    CNI_CONTAINERID: o.containerID ?? "",
    CNI_NETNS: o.netns ?? "",
    CNI_IFNAME: o.ifname ?? "eth0",
    CNI_ARGS: o.args ?? "",
    CNI_PATH: o.path ?? dir,
    // Without a node namespace the plugin runs in the test's own: no daemon may be left there.
    ...(MODE === "fallback" || !o.node ? { TSCNI_NO_DAEMON: "1" } : {}),
    ...o.extraEnv,
  };
  for (const k of Object.keys(env)) if (env[k] === "") delete env[k];
  const input = typeof o.config === "string" ? o.config : JSON.stringify(o.config);
  // nsenter --net, as a runtime would exec us: in the host's mount namespace (`ip netns exec` would
  // add a private one with a fresh /sys, where a bpffs mounted by the plugin dies with it).
  const cmd = o.node ? "nsenter" : bin;
  const argv = o.node ? [`--net=${o.node.path}`, "--", bin] : [];
  return { cmd, argv, env, input };
}

function result(code: number | null, stdout: string, stderr: string): ExecResult {
  let json: any;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code: code ?? -1, stdout, stderr, json };
}

export function execPlugin(name: string, o: ExecOptions): ExecResult {
  const { cmd, argv, env, input } = invocation(name, o);
  const r = spawnSync(cmd, argv, { input, env, encoding: "utf8", maxBuffer: 64 << 20, timeout: 120_000 });
  return result(r.status, r.stdout ?? "", r.stderr ?? "");
}

export interface RunningPlugin {
  /** The runtime's child: nsenter, which execs the plugin (so this is the plugin's process). */
  child: ChildProcess;
  done: Promise<ExecResult & { ms: number }>;
}

/** execPlugin without waiting: for a call that blocks while others are made. */
export function startPlugin(name: string, o: ExecOptions): RunningPlugin {
  const { cmd, argv, env, input } = invocation(name, o);
  const t0 = Date.now();
  const child = spawn(cmd, argv, { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin!.on("error", () => {});
  child.stdin!.end(input);
  const done = new Promise<ExecResult & { ms: number }>((resolve) => child.on("close", (code) => resolve({ ...result(code, stdout, stderr), ms: Date.now() - t0 })));
  return { child, done };
}
