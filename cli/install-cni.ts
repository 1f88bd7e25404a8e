// `tscni install --conflist-dir`: the install-cni step of a DaemonSet's init container. The
// plugins go first (cli/install.ts), the conflist last, so a runtime that sees the new conflist
// finds every plugin it names. The conflist is written to a temporary file in the same directory,
// flushed, and renamed over the old one: a runtime reading the directory at any moment sees the
// old file or the new one, never a part (and never a stray *.conflist: the temporary has no such suffix).
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
}

/** `tscni install`: the plugins, then (with a conflist directory) the node's conflist. Returns the exit code. */
export async function runInstall(a: InstallArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { embeddedShim, install } = await import("./install");
  const say = (s: string) => process.stdout.write(`${s}\n`);
  let text: string | undefined;
  if (a.conflistDir) {
    // Everything is validated before anything is written: a bad POD_CIDR changes nothing on the node.
    const { ConflistError, buildConflist } = await import("./conflist");
    try {
      text = conflistText(buildConflist({ podCidr: a.podCidr ?? env.POD_CIDR ?? "", network: a.network, bridge: a.bridge, ipMasq: a.ipMasq, bandwidth: a.bandwidth, mtu: a.mtu, dataDir: a.dataDir }));
    } catch (e) {
      if (!(e instanceof ConflistError)) throw e;
      process.stderr.write(`tscni install: ${e.message}\n`);
      return 2;
    }
    if (!/^[^/]+\.conflist$/.test(a.conflistName)) {
      process.stderr.write(`tscni install: --conflist-name must be a file name ending in .conflist\n`);
      return 2;
    }
  }
  const shim = a.shim ? embeddedShim() : undefined;
  if (a.shim && !shim) say("note: no embedded shim (not the built executable): installing this executable under each name");
  const r = install(process.execPath, path.resolve(a.dir), shim ? { shim } : {});
  for (const f of r.installed) say(`installed ${f}`);
  if (!r.linked) say("note: hard links were not possible; installed copies");
  if (a.conflistDir && text) {
    const file = path.join(path.resolve(a.conflistDir), a.conflistName);
    writeFileAtomic(file, text);
    say(`wrote ${file}`);
  }
  return 0;
}
