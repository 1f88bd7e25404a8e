// Entry point of the single executable. Called as bridge / host-local / ebpf-bandwidth / loopback it is that
// CNI plugin (multi-call, like busybox); called by any other name it is the human-facing tool.
// The plugin path stays lean: no yargs, only the modules the called plugin needs.
import * as fs from "node:fs";
import * as path from "node:path";
import { enableInProcessDelegation } from "../core/delegate";
import { asCniError } from "../core/errors";
import { dispatch, printJson } from "../core/skel";
import { CURRENT_VERSION } from "../core/version";
import { isPluginName, loadPlugin } from "./registry";
import { isThisBuild } from "./self";
import { readStdin } from "./stdin";

export async function runPluginProcess(name: string): Promise<number> {
  const plugin = await loadPlugin(name);
  if (!plugin) return 1;
  enableInProcessDelegation(loadPlugin, isThisBuild);
  let stdin: Buffer;
  try {
    stdin = process.env.CNI_COMMAND === "VERSION" && stdinIsTerminal() ? Buffer.alloc(0) : readStdin();
  } catch (e) {
    writeAll(1, printJson(asCniError(e).toJSON(CURRENT_VERSION)));
    return 1;
  }
  return dispatch(plugin, {
    env: process.env,
    stdin,
    stdout: (s) => writeAll(1, s),
    stderr: (s) => writeAll(2, s),
  });
}

// Plain fd writes: touching process.stdout/stdin loads Node's net/tty stream machinery, which
// costs start-up time on every exec for nothing a one-shot plugin needs.
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") return; // reader gone: nothing to tell
    }
  }
}

function stdinIsTerminal(): boolean {
  try {
    return fs.fstatSync(0).isCharacterDevice();
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const invoked = path.basename(process.argv0 || process.argv[0] || "");
  if (isPluginName(invoked)) return runPluginProcess(invoked);
  const { runCli } = await import("./commands");
  return runCli(process.argv.slice(2));
}

// scripts/train-code-cache.mjs loads this bundle to run real calls in-process and then saves V8's
// code cache of everything they compiled; it asks for the dispatcher instead of a run.
const trainer = (globalThis as { __tscniTrainer?: (api: TrainingApi) => void }).__tscniTrainer;
export interface TrainingApi {
  dispatch: typeof dispatch;
  loadPlugin: typeof loadPlugin;
}
// A request worker of the daemon (cli/daemon/threads.ts sets the flag before loading the bundle).
const isRequestWorker = (globalThis as Record<string, unknown>).__tscniRequestWorker === true;
if (trainer) {
  enableInProcessDelegation(loadPlugin, isThisBuild);
  trainer({ dispatch, loadPlugin });
} else if (isRequestWorker) {
  import("./daemon/worker").then((m) => m.runWorker());
} else {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // Last resort: still a CNI error on stdout, never a stack trace.
      writeAll(1, printJson(asCniError(err).toJSON(CURRENT_VERSION)));
      process.exitCode = 1;
    },
  );
}
