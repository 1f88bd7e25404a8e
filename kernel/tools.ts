// Running the node's tools (iptables-restore, iptables-save, nft) for the current call: found on
// the call's PATH (then the usual sbin directories, since runtimes often pass a minimal PATH), run
// with the call's environment minus NODE_*, and bounded by the call's deadline (core/request.ts).
// In the daemon the process's own PATH and environment are whoever started it: never used here.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../core/errors";
import { checkpoint, childEnv, currentRequest, DeadlineError, remainingMs } from "../core/request";

const SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

/** The executable `name` on the current call's PATH, then in the usual places; undefined if none. */
export function findTool(name: string, env = currentRequest().env): string | undefined {
  const dirs = [...(env.PATH ?? "").split(":").filter(Boolean), ...SBIN];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface ToolRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `tool` to completion within what is left of the call's budget; a tool still running then is
 * killed and the call fails with code 11. The call's cancellation is checked when the tool ends.
 */
export function runTool(tool: string, args: string[], input?: string): ToolRun {
  const bin = findTool(tool);
  if (!bin) throw new CniError(Code.PluginNotAvailable, `"${tool}" not found`, "ipMasq and macspoofchk need iptables or nftables installed");
  checkpoint(`before running ${tool}`);
  const budget = remainingMs();
  const t0 = Date.now();
  // node:child_process is loaded on first use: most ADDs and DELs start no tool (start-up time).
  const r = process.getBuiltinModule("node:child_process").spawnSync(bin, args, {
    input, encoding: "utf8", env: childEnv(), timeout: Math.max(1, budget), killSignal: "SIGKILL",
  });
  const took = Date.now() - t0;
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT" || (r.signal === "SIGKILL" && took >= budget)) {
    throw new DeadlineError("deadline", `running ${tool} ${args.join(" ")}`, `killed after ${took} ms (the call's deadline)`);
  }
  if (r.error) throw new CniError(Code.Internal, `failed to run ${tool}`, r.error.message);
  checkpoint(`running ${tool}`);
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
