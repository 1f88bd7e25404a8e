// A minimal runtime: runs a conflist's plugins in order the way libcni does (ADD forwards each
// result as the next plugin's prevResult, DEL runs in reverse, runtimeConfig goes only to
// plugins that declare the capability). Used by the demo; the conformance suite uses libcni itself.
import { spawnSync } from "node:child_process";
import * as path from "node:path";

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, any>[];
}

export interface Attachment {
  containerID: string;
  netns: string;
  ifname: string;
  /** Capability arguments, e.g. { bandwidth: {...} }. */
  capabilityArgs?: Record<string, unknown>;
}

export interface ChainOptions {
  binDir: string;
  /** Network namespace the plugins run in (the "node"); empty: the caller's. */
  nodeNetns?: string;
}

export class ChainError extends Error {
  constructor(readonly plugin: string, readonly command: string, readonly cniError: any) {
    super(`${plugin} ${command} failed: ${cniError?.msg ?? "?"}${cniError?.details ? ` (${cniError.details})` : ""} [code ${cniError?.code}]`);
  }
}

function pluginConfig(list: Conflist, plugin: Record<string, any>, a: Attachment, prevResult?: unknown) {
  const conf: Record<string, any> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a.capabilityArgs ?? {})) if (caps[k]) rc[k] = v;
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  delete conf.capabilities;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

/** One plugin exec in the node namespace (for a verb without an attachment, `a` is undefined). */
export function execPlugin(o: ChainOptions, type: string, command: string, a: Attachment | undefined, conf: unknown) {
  const bin = path.join(o.binDir, type);
  const env = {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    ...(a ? { CNI_CONTAINERID: a.containerID, CNI_NETNS: a.netns, CNI_IFNAME: a.ifname } : {}),
    CNI_PATH: o.binDir,
    // How the caller wants the shim to behave (tests: TSCNI_NO_DAEMON=1 for the fallback path).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k === "TSCNI_NO_DAEMON" || k === "TSCNI_SOCKET")),
  };
  // nsenter, not `ip netns exec`: the latter also makes a private mount namespace with a fresh
  // /sys, where bpffs pins made by ebpf-bandwidth would vanish when the plugin exits.
  const [cmd, args] = o.nodeNetns ? ["nsenter", [`--net=/var/run/netns/${o.nodeNetns}`, "--", bin]] : [bin, []];
  const r = spawnSync(cmd as string, args as string[], { env, input: JSON.stringify(conf), encoding: "utf8", maxBuffer: 64 << 20 });
  let json: any;
  try {
    json = r.stdout ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = { msg: r.stdout || r.stderr };
  }
  if (r.status !== 0) throw new ChainError(type, command, json ?? { msg: r.stderr });
  return json;
}
const exec = execPlugin;

export function addNetworkList(o: ChainOptions, list: Conflist, a: Attachment): any {
  let prev: unknown;
  for (const p of list.plugins) prev = exec(o, p.type, "ADD", a, pluginConfig(list, p, a, prev));
  return prev;
}

export function checkNetworkList(o: ChainOptions, list: Conflist, a: Attachment, cached: unknown): void {
  for (const p of list.plugins) exec(o, p.type, "CHECK", a, pluginConfig(list, p, a, cached));
}

export function delNetworkList(o: ChainOptions, list: Conflist, a: Attachment, cached?: unknown): void {
  for (const p of [...list.plugins].reverse()) exec(o, p.type, "DEL", a, pluginConfig(list, p, a, cached));
}

/** GC as libcni 1.2 does it: every plugin of the list, the valid attachments in its config. */
export function gcNetworkList(o: ChainOptions, list: Conflist, valid: { containerID: string; ifname: string }[]): void {
  for (const p of list.plugins) {
    const { capabilities: _caps, ...rest } = p;
    exec(o, p.type, "GC", undefined, { ...rest, cniVersion: list.cniVersion, name: list.name, "cni.dev/valid-attachments": valid });
  }
}

/** STATUS of every plugin of the list. */
export function statusNetworkList(o: ChainOptions, list: Conflist): void {
  for (const p of list.plugins) {
    const { capabilities: _caps, ...rest } = p;
    exec(o, p.type, "STATUS", undefined, { ...rest, cniVersion: list.cniVersion, name: list.name });
  }
}
