// The human-facing command line (yargs is loaded only here, never on the CNI path).
import * as path from "node:path";
import yargs from "yargs";
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from "../core/version";
import { embeddedShim, install } from "./install";
import { PLUGIN_NAMES } from "./registry";

declare const TSCNI_VERSION: string | undefined;
const VERSION = typeof TSCNI_VERSION === "string" ? TSCNI_VERSION : "dev";

export async function runCli(argv: string[]): Promise<number> {
  let code = 0;
  // Allow `tscni bridge` (and `tscni plugin bridge`) to act as the plugin: handy without install.
  const asPlugin = argv[0] === "plugin" ? argv[1] : argv[0];
  if (asPlugin && (PLUGIN_NAMES as readonly string[]).includes(asPlugin)) {
    const { runPluginProcess } = await import("./main");
    return runPluginProcess(asPlugin);
  }
  await yargs(argv)
    .scriptName("tscni")
    .usage(
      "tscni — CNI plugins bridge, host-local and ebpf-bandwidth in one executable.\n\n" +
        "Installed under a plugin's name (see `install`) it speaks the CNI protocol as that plugin.\n\n" +
        "Usage: $0 <command> [options]",
    )
    .command(
      "install",
      "install into a CNI bin directory under the plugin names",
      (y) =>
        y
          .option("dir", { type: "string", default: "/opt/cni/bin", describe: "CNI bin directory" })
          .option("shim", { type: "boolean", default: true, describe: "install the small shim under the plugin names (--no-shim: this executable itself)" }),
      (a) => {
        const shim = a.shim ? embeddedShim() : undefined;
        if (a.shim && !shim) process.stdout.write("note: no embedded shim (not the built executable): installing this executable under each name\n");
        const r = install(process.execPath, path.resolve(a.dir), shim ? { shim } : {});
        for (const f of r.installed) process.stdout.write(`installed ${f}\n`);
        if (!r.linked) process.stdout.write("note: hard links were not possible; installed copies\n");
      },
    )
    .command("plugin <name>", `run as a plugin (${PLUGIN_NAMES.join(", ")}) with CNI_* environment and stdin`, (y) =>
      y.positional("name", { type: "string", choices: [...PLUGIN_NAMES] }),
    )
    .command("versions", "print the CNI spec versions supported", {}, () => {
      process.stdout.write(`tscni ${VERSION}\nCNI spec ${CURRENT_VERSION} (supports ${SUPPORTED_VERSIONS.join(", ")})\n`);
    })
    .command(
      "daemon [action]",
      "the resident process shims hand CNI calls to (action: run, status, stop)",
      (y) =>
        y
          .positional("action", { type: "string", choices: ["run", "status", "stop"], default: "run" })
          .option("socket", { type: "string", describe: "socket path (default: /run/tscni/tscni-<netns inode>.sock)" })
          .option("idle-exit", { type: "number", default: 0, describe: "exit after this many seconds without a request (0: never)" })
          .option("spawned", { type: "boolean", default: false, hidden: true })
          .option("lock-fd", { type: "number", hidden: true })
          .option("read-deadline-ms", { type: "number", hidden: true })
          .option("max-request-bytes", { type: "number", hidden: true }),
      async (a) => {
        const { daemonCommand } = await import("./daemon/command");
        code = await daemonCommand({ action: a.action as "run" | "status" | "stop", socket: a.socket, idleExit: a["idle-exit"], spawned: a.spawned, lockFd: a["lock-fd"], readDeadlineMs: a["read-deadline-ms"], maxRequestBytes: a["max-request-bytes"] });
      },
    )
    .command(
      "stats",
      "print per-container shaping counters kept by ebpf-bandwidth",
      (y) => y.option("pin-dir", { type: "string", describe: "bpffs directory of ebpf-bandwidth pins" }),
      async (a) => {
        const { printStats } = await import("../plugins/ebpf-bandwidth/stats-cli");
        code = await printStats({ pinDir: a["pin-dir"] });
      },
    )
    .demandCommand(1, "name a command (or call this executable as a plugin)")
    .strict()
    .version(VERSION)
    .help()
    .fail((msg, err) => {
      process.stderr.write(`${err ? err.message : msg}\n\nRun "tscni --help" for usage.\n`);
      code = 2;
    })
    .parseAsync();
  return code;
}
