// Calling another plugin (IPAM) as the spec describes: find `type` on CNI_PATH, exec it with the
// same environment and CNI_COMMAND set, the network config on stdin. When the binary found is
// this very executable, the plugin runs in-process instead: same protocol, one process start less.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "./errors";
import { isObject } from "./json";
import type { CmdArgs, Plugin } from "./plugin";
import { childEnv, currentRequest, DeadlineError, remainingMs } from "./request";
import { parseResult } from "./result/convert";
import type { Result } from "./result/types";
import { dispatch } from "./skel";

type Resolver = (name: string) => Promise<Plugin | undefined>;
let inProcess: { resolve: Resolver; isSelf: (file: string) => boolean } | undefined;

/** Registered by the executable's entry point: which plugins it holds, and which files are itself. */
export function enableInProcessDelegation(resolve: Resolver, isSelf: (file: string) => boolean): void {
  inProcess = { resolve, isSelf };
}

export function findInPath(type: string, dirs: readonly string[]): string | undefined {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/.test(type)) return undefined;
  for (const dir of dirs) {
    const p = path.join(dir, type);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface DelegateOutput {
  code: number;
  stdout: string;
}

/** Run plugin `type` for `command` with `stdin`; returns its parsed result for ADD, throws its CNI error. */
export async function delegate(type: string, command: CmdArgs["command"], stdin: Buffer, args: CmdArgs, cniVersion: string): Promise<Result | undefined> {
  const bin = findInPath(type, args.path);
  if (!bin) throw new CniError(Code.DelegateFailed, `failed to find plugin "${type}" in path [${args.path.join(" ")}]`);
  const env: Record<string, string | undefined> = { ...args.env, CNI_COMMAND: command };
  const out = await run(type, bin, env, stdin);
  if (out.code !== 0) throw pluginError(type, out.stdout);
  if (command !== "ADD") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(out.stdout);
  } catch {
    throw new CniError(Code.DelegateFailed, `plugin "${type}" returned invalid JSON`, out.stdout.slice(0, 200));
  }
  const version = isObject(json) && typeof json.cniVersion === "string" ? json.cniVersion : cniVersion;
  return parseResult(json, version);
}

async function run(type: string, bin: string, env: Record<string, string | undefined>, stdin: Buffer): Promise<DelegateOutput> {
  if (inProcess?.isSelf(bin)) {
    const plugin = await inProcess.resolve(type);
    if (plugin) {
      let stdout = "";
      const code = await dispatch(plugin, { env, stdin, stdout: (s) => (stdout += s), stderr: () => {} });
      return { code, stdout };
    }
  }
  // node:child_process is loaded here, not at start-up: with the IPAM in-process it is never needed.
  const { spawn } = process.getBuiltinModule("node:child_process");
  // The delegate is bounded by this call: it gets what is left of the budget as its own, and is
  // killed when the budget runs out or the caller goes away.
  const scope = currentRequest();
  const left = remainingMs();
  const childEnvironment = { ...childEnv(env), TSCNI_REQUEST_TIMEOUT_MS: String(Math.max(1, left)) };
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env: childEnvironment, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stopped: DeadlineError | undefined;
    const stop = (e: DeadlineError) => {
      stopped ??= e;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => stop(new DeadlineError("deadline", `running plugin "${type}"`, `killed after ${left} ms (the call's deadline)`)), left);
    const watch = setInterval(() => scope.cancelled() && stop(new DeadlineError("cancelled", `running plugin "${type}"`)), 100);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.resume();
    child.on("error", (e) => reject(new CniError(Code.DelegateFailed, `failed to exec plugin "${type}"`, e.message)));
    child.on("close", (code) => {
      clearTimeout(timer);
      clearInterval(watch);
      if (stopped) reject(stopped);
      else resolve({ code: code ?? 1, stdout });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(stdin);
  });
}

/** The delegate's own error JSON is passed through with its code, as libcni does. */
function pluginError(type: string, stdout: string): CniError {
  try {
    const j = JSON.parse(stdout);
    if (isObject(j) && typeof j.code === "number" && typeof j.msg === "string") {
      return new CniError(j.code, j.msg, typeof j.details === "string" ? j.details : "");
    }
  } catch {
    /* fall through */
  }
  return new CniError(Code.DelegateFailed, `plugin "${type}" failed`, stdout.trim().slice(0, 500));
}
