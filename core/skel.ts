// The dispatcher: environment + stdin in, result or error JSON out, exit code returned. It runs
// without processes (tests call it directly) and is the only place that prints to the runtime.
import { parseCniArgs } from "./args";
import { decodeJson, parseNetConf, parseValidAttachments } from "./config";
import { asCniError } from "./errors";
import { readCommand, readEnv } from "./env";
import { optString } from "./json";
import { STDIN_LIMIT, stdinTooLarge } from "./limits";
import { beginLog, debugLog, setLogFile } from "./log";
import type { CmdArgs, Plugin } from "./plugin";
import { inRequest, scopeFor } from "./request";
import { toWire } from "./result/convert";
import { CURRENT_VERSION, isSupported } from "./version";

export interface Io {
  env: Readonly<Record<string, string | undefined>>;
  stdin: Buffer;
  stdout(text: string): void;
  stderr(text: string): void;
  /** When the call must be over (Date.now() ms); default: now + TSCNI_REQUEST_TIMEOUT_MS or 120 s. */
  deadline?: number;
  /** True once the caller is gone (the daemon's shim hung up); default: never. */
  cancelled?: () => boolean;
}

/** Go's json.MarshalIndent(v, "", "    ") as libcni prints results and errors: no trailing newline. */
export const printJson = (v: unknown) => JSON.stringify(v, null, 4);

export async function dispatch(plugin: Plugin, io: Io): Promise<number> {
  const endLog = beginLog(io.env.TSCNI_DEBUG_LOG);
  try {
    // Everything below (lock waits, tools) reads the call's environment and bounds from here.
    return await inRequest(scopeFor(io.env, io.deadline, io.cancelled), () => run(plugin, io));
  } finally {
    endLog();
  }
}

async function run(plugin: Plugin, io: Io): Promise<number> {
  let errVersion = CURRENT_VERSION;
  const started = Date.now();
  try {
    if (io.stdin.length > STDIN_LIMIT) {
      // Before anything else, VERSION included (the fallback always refused it so). The answer
      // depends on the first STDIN_LIMIT + 1 bytes only, all that the shim and the fallback
      // read: every path a call can take prints the same bytes.
      errVersion = versionForErrors(io.stdin.subarray(0, STDIN_LIMIT + 1)) ?? errVersion;
      throw stdinTooLarge();
    }
    const command = readCommand(io.env);
    if (command === "VERSION") {
      // "cniVersion: the version of the CNI spec in use for this output": the one the runtime
      // asked in (stdin), when we speak it; else our newest.
      const asked = versionForErrors(io.stdin);
      const version = asked && plugin.supportedVersions.includes(asked) ? asked : CURRENT_VERSION;
      io.stdout(printJson({ cniVersion: version, supportedVersions: [...plugin.supportedVersions] }));
      return 0;
    }
    const env = readEnv(io.env);
    errVersion = versionForErrors(io.stdin) ?? errVersion;
    const conf = parseNetConf(io.stdin, command as CmdArgs["command"], plugin.supportedVersions);
    // GC's list, checked before any plugin code runs: a GC without it is refused (code 7).
    const validAttachments = command === "GC" ? parseValidAttachments(conf.raw) : undefined;
    setLogFile(optString(conf.raw, "debugLog"));
    const parsed = parseCniArgs(env.args);
    const args: CmdArgs = {
      command: env.command as CmdArgs["command"],
      containerID: env.containerID,
      netns: env.netns,
      ifname: env.ifname,
      args: parsed.pairs,
      ignoreUnknown: parsed.ignoreUnknown,
      path: env.path,
      stdin: io.stdin,
      conf,
      env: io.env,
    };
    debugLog(`${plugin.name} ${command} start`, { containerID: args.containerID, netns: args.netns, ifname: args.ifname, network: conf.name });
    switch (args.command) {
      case "ADD": {
        const result = await plugin.add(args);
        io.stdout(printJson(toWire(result, conf.cniVersion)));
        break;
      }
      case "DEL":
        await plugin.del(args);
        break;
      case "CHECK":
        await plugin.check(args);
        break;
      case "GC":
        await plugin.gc({ ...args, command: "GC", validAttachments: validAttachments! });
        break;
      case "STATUS":
        await plugin.status(args);
        break;
    }
    debugLog(`${plugin.name} ${command} ok in ${Date.now() - started} ms`);
    return 0;
  } catch (err) {
    const e = asCniError(err);
    debugLog(`${plugin.name} failed in ${Date.now() - started} ms: code ${e.code}`, err);
    io.stdout(printJson(e.toJSON(errVersion)));
    return 1;
  }
}

/** Errors are reported in the config's version when it is readable and supported. */
function versionForErrors(stdin: Buffer): string | undefined {
  try {
    const v = optString(decodeJson(stdin), "cniVersion");
    return v && isSupported(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

