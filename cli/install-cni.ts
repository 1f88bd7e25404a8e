// `tscni install --conflist-dir`: the install-cni step of a DaemonSet's init container. The
// plugins go first (cli/install.ts), the conflist last, so a runtime that sees the new conflist
// finds every plugin it names. The conflist is written to a temporary file in the same directory,
// flushed, and renamed over the old one: a runtime reading the directory at any moment sees the
// old file or the new one, never a part (and never a stray *.conflist: the temporary has no such suffix).
// The subnets: --pod-cidr / POD_CIDR, or the Node's spec.podCIDRs read through the Kubernetes API
// (cli/kube/, cli/node-subnet.ts); or none at all with --containerd-template, where kubelet hands
// them to containerd, which renders the conflist from the template (docs/multi-node.md).
import * as fs from "node:fs";
import * as path from "node:path";

export function writeFileAtomic(file: string, text: string, mode = 0o644): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.${path.basename(file)}.tscni-${process.pid}.tmp`);
  const fd = fs.openSync(tmp, "w", mode);
  try {
    fs.fchmodSync(fd, mode); // whatever the umask: runtimes read it as another user may
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself must reach the disk before we report success (a node may lose power).
  const dfd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

export const conflistText = (conflist: Record<string, unknown>) => `${JSON.stringify(conflist, null, 2)}\n`;

export interface InstallArgs {
  dir: string;
  shim: boolean;
  conflistDir?: string | undefined;
  conflistName: string;
  podCidr?: string | undefined;
  network?: string | undefined;
  bridge?: string | undefined;
  ipMasq: boolean;
  bandwidth: boolean;
  mtu?: number | undefined;
  dataDir?: string | undefined;
  /** The Node whose spec.podCIDRs give the subnets when neither --pod-cidr nor POD_CIDR does (default: $NODE_NAME). */
  node?: string | undefined;
  /** Seconds to keep retrying an API server that cannot be reached or answers 5xx (default 60). */
  apiTimeout?: number | undefined;
  /** Write containerd's CNI config template (its CRI plugin's conf_template) here instead of a conflist. */
  containerdTemplate?: string | undefined;
  /** The service account's token and CA (default: where Kubernetes mounts them). */
  serviceAccountDir?: string | undefined;
  /** Between two looks at a Node without a pod subnet (default 5000). */
  pollMs?: number | undefined;
  /** The file installed as tscni (default: this executable). */
  executable?: string | undefined;
}

export interface InstallIo {
  out(line: string): void;
  err(line: string): void;
}

const STD_IO: InstallIo = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

/** The lines for containerd's config.toml (version 2) that make its CRI plugin render the template. */
export function containerdConfigLines(binDir: string, template: string): string[] {
  return [
    `[plugins."io.containerd.grpc.v1.cri".cni]`,
    `  bin_dir = ${JSON.stringify(binDir)}`,
    `  conf_dir = "/etc/cni/net.d"`,
    `  conf_template = ${JSON.stringify(template)}`,
  ];
}

/**
 * `tscni install`: the plugins, then (with a conflist directory) the node's conflist, or (with
 * --containerd-template) containerd's template for it. The subnets of a conflist come from
 * --pod-cidr, else POD_CIDR, else the Node's spec.podCIDRs through the Kubernetes API (NODE_NAME),
 * waiting while it has none. Everything is checked, and the subnets known, before anything is
 * written: a bad POD_CIDR, a node without a subnet or an API that refuses change nothing on the
 * node. Returns the exit code: 2 for bad arguments, 1 when the API gave no subnet.
 */
export async function runInstall(a: InstallArgs, env: NodeJS.ProcessEnv = process.env, io: InstallIo = STD_IO): Promise<number> {
  const { embeddedShim, install } = await import("./install");
  const { ConflistError, buildConflist, buildContainerdTemplate, checkChainOptions, checkTemplateName } = await import("./conflist");
  const say = io.out;
  const refuse = (code: number, msg: string) => {
    io.err(`tscni install: ${msg}`);
    return code;
  };
  const chain = { network: a.network, bridge: a.bridge, ipMasq: a.ipMasq, bandwidth: a.bandwidth, mtu: a.mtu, dataDir: a.dataDir };
  let output: { file: string; text: string; template: boolean } | undefined;
  try {
    if (a.containerdTemplate !== undefined) {
      if (a.conflistDir) return refuse(2, "--containerd-template and --conflist-dir exclude each other: with a template, containerd writes the conflist");
      if (a.podCidr !== undefined) return refuse(2, "--pod-cidr has no use with --containerd-template: kubelet sends the node's pod subnets to containerd");
      checkTemplateName(a.containerdTemplate);
      output = { file: path.resolve(a.containerdTemplate), text: buildContainerdTemplate(chain), template: true };
    } else if (a.conflistDir) {
      checkChainOptions(chain);
      if (!/^[^/]+\.conflist$/.test(a.conflistName)) return refuse(2, "--conflist-name must be a file name ending in .conflist");
      const nodeName = a.node || env.NODE_NAME || undefined;
      let podCidr = a.podCidr ?? (env.POD_CIDR || undefined);
      if (podCidr === undefined && nodeName === undefined) {
        return refuse(2, "no pod subnet: give --pod-cidr or set POD_CIDR (e.g. 10.244.1.0/24), or set NODE_NAME (--node) to read the node's spec.podCIDRs from the Kubernetes API, or write a template for containerd (--containerd-template)");
      }
      if (podCidr === undefined) {
        if (a.apiTimeout !== undefined && !(a.apiTimeout > 0)) return refuse(2, "--api-timeout must be a number of seconds above 0");
        const { NodeSubnetError } = await import("./node-subnet");
        try {
          podCidr = await podCidrsFromApi(a, nodeName!, env, io);
        } catch (e) {
          if (e instanceof NodeSubnetError) return refuse(1, e.message);
          throw e;
        }
      }
      output = { file: path.join(path.resolve(a.conflistDir), a.conflistName), text: conflistText(buildConflist({ podCidr, ...chain })), template: false };
    }
  } catch (e) {
    if (e instanceof ConflistError) return refuse(2, e.message);
    throw e;
  }
  const shim = a.shim ? embeddedShim() : undefined;
  if (a.shim && !shim) say("note: no embedded shim (not the built executable): installing this executable under each name");
  const binDir = path.resolve(a.dir);
  const r = install(a.executable ?? process.execPath, binDir, shim ? { shim } : {});
  for (const f of r.installed) say(`installed ${f}`);
  if (!r.linked) say("note: hard links were not possible; installed copies");
  if (output) {
    writeFileAtomic(output.file, output.text);
    say(`wrote ${output.file}`);
  }
  if (output?.template) {
    say("containerd renders it into its conf_dir as 10-containerd-net.conflist when kubelet sends the node's pod subnets (CRI UpdateRuntimeConfig),");
    say("and only while no other CNI config loads from there. In /etc/containerd/config.toml (version 2), then restart containerd:");
    for (const l of containerdConfigLines(binDir, output.file)) say(`  ${l}`);
  }
  return 0;
}

/** The pod subnets from the Node's spec.podCIDRs, through the API with the pod's service account. */
async function podCidrsFromApi(a: InstallArgs, nodeName: string, env: NodeJS.ProcessEnv, io: InstallIo): Promise<string> {
  const { inClusterConfig, nodeReader } = await import("./kube/node-api");
  const { waitForPodCidrs } = await import("./node-subnet");
  const c = inClusterConfig(env, a.serviceAccountDir);
  const retryMs = (a.apiTimeout ?? 60) * 1000;
  io.out(`reading the pod subnets of node "${nodeName}" from the Kubernetes API at ${c.server}`);
  const read = await nodeReader(c, nodeName, Math.max(1000, Math.min(10_000, retryMs)));
  return waitForPodCidrs({ nodeName, read, log: io.out, pollMs: a.pollMs ?? 5000, retryMs });
}
