// The human-facing command line (yargs is loaded only here, never on the CNI path).
import yargs from "yargs";
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from "../core/version";
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
      "tscni — CNI plugins bridge, host-local, ebpf-bandwidth and loopback in one executable.\n\n" +
        "Installed under a plugin's name (see `install`) it speaks the CNI protocol as that plugin.\n\n" +
        "Usage: $0 <command> [options]",
    )
    .command(
      "install",
      "install into a CNI bin directory under the plugin names; with --conflist-dir also write the node's conflist (install-cni), with --containerd-template containerd's template for it",
      (y) =>
        y
          .option("dir", { type: "string", default: "/opt/cni/bin", describe: "CNI bin directory" })
          .option("shim", { type: "boolean", default: true, describe: "install the small shim under the plugin names (--no-shim: this executable itself)" })
          .option("conflist-dir", { type: "string", describe: "also write a conflist there (e.g. /etc/cni/net.d), atomically, after the plugins" })
          .option("conflist-name", { type: "string", default: "10-tscni.conflist", describe: "its file name" })
          .option("pod-cidr", { type: "string", describe: "the node's pod subnet(s), comma-separated, one per family (default: $POD_CIDR)" })
          .option("node", { type: "string", describe: "without --pod-cidr and POD_CIDR: read the subnets from this Node's spec.podCIDRs through the Kubernetes API, in a pod, waiting until it has them (default: $NODE_NAME)" })
          .option("api-timeout", { type: "number", default: 60, describe: "seconds to retry a Kubernetes API that cannot be reached or fails (5xx) before giving up" })
          .option("containerd-template", { type: "string", describe: "instead of a conflist, write containerd's CNI config template (conf_template) there: containerd renders it with the subnets kubelet sends" })
          .option("network", { type: "string", default: "tscni", describe: "network name in the conflist" })
          .option("bridge", { type: "string", default: "cni0", describe: "bridge name in the conflist" })
          .option("ip-masq", { type: "boolean", default: true, describe: "masquerade traffic leaving the pod subnet" })
          .option("bandwidth", { type: "boolean", default: true, describe: "chain ebpf-bandwidth (the runtime's bandwidth capability)" })
          .option("mtu", { type: "number", describe: "MTU of the bridge and veths (default: the kernel's)" })
          .option("data-dir", { type: "string", describe: "host-local's store on the node (default: /var/lib/cni/networks)" }),
      async (a) => {
        const { runInstall } = await import("./install-cni");
        code = await runInstall({ dir: a.dir, shim: a.shim, conflistDir: a["conflist-dir"], conflistName: a["conflist-name"], podCidr: a["pod-cidr"], node: a.node, apiTimeout: a["api-timeout"], containerdTemplate: a["containerd-template"], network: a.network, bridge: a.bridge, ipMasq: a["ip-masq"], bandwidth: a.bandwidth, mtu: a.mtu, dataDir: a["data-dir"] });
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
          .option("max-request-bytes", { type: "number", hidden: true })
          .option("deadline-grace-ms", { type: "number", hidden: true })
          .option("retire-after-ms", { type: "number", hidden: true })
          .option("min-workers", { type: "number", describe: "run: request worker threads kept warm (default 4)" })
          .option("max-workers", { type: "number", describe: "run: most request worker threads (default 32); more requests at once run as processes" })
          .option("netns-check", { type: "number", describe: "run: seconds between checks that anything but the daemon uses its network namespace (0: never)" })
          .option("json", { type: "boolean", default: false, describe: "status: print the answer as JSON" })
          .option("force", { type: "boolean", default: false, describe: "stop: end requests in flight at once (their callers get code 11)" })
          .option("grace-ms", { type: "number", describe: "stop: how long to wait for requests in flight (default 10000)" }),
      async (a) => {
        const { daemonCommand } = await import("./daemon/command");
        code = await daemonCommand({
          action: a.action as "run" | "status" | "stop", socket: a.socket, idleExit: a["idle-exit"], spawned: a.spawned, lockFd: a["lock-fd"],
          readDeadlineMs: a["read-deadline-ms"], maxRequestBytes: a["max-request-bytes"], deadlineGraceMs: a["deadline-grace-ms"], minWorkers: a["min-workers"], maxWorkers: a["max-workers"], retireAfterMs: a["retire-after-ms"], netnsCheck: a["netns-check"], json: a.json, force: a.force, graceMs: a["grace-ms"],
        });
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
