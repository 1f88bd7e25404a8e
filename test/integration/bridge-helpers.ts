// Shared set-up for the bridge integration tests: a node namespace, container namespaces, a CNI
// bin dir, and short ways to run the plugin and read the kernel state with `ip -j`.
import * as fs from "node:fs";
import * as path from "node:path";
import { execPlugin, type ExecResult, ourBinDir, REFERENCE_DIR } from "../helpers/plugin";
import type { Netns, NsScope } from "../helpers/netns";

export interface Env {
  node: Netns;
  dataDir: string;
  binDir: string;
}

/** A bin dir holding our bridge plus the given plugins taken from the reference directory. */
export function binDirWith(scope: NsScope, referencePlugins: string[], bridgeFrom: "ours" | "reference" = "ours", ipamFrom: "ours" | "reference" = "ours"): string {
  const dir = scope.tmpdir("tscni-bin-");
  const ours = ourBinDir();
  fs.symlinkSync(bridgeFrom === "ours" ? path.join(ours, "bridge") : path.join(REFERENCE_DIR, "bridge"), path.join(dir, "bridge"));
  fs.symlinkSync(ipamFrom === "ours" ? path.join(ours, "host-local") : path.join(REFERENCE_DIR, "host-local"), path.join(dir, "host-local"));
  for (const p of referencePlugins) fs.symlinkSync(path.join(REFERENCE_DIR, p), path.join(dir, p));
  return dir;
}

export function makeEnv(scope: NsScope, binDir = ourBinDir()): Env {
  return { node: scope.netns("bn"), dataDir: scope.tmpdir("tscni-ipam-"), binDir };
}

export function conf(env: Env, version: string, extra: Record<string, unknown> = {}, ipam?: Record<string, unknown> | null): Record<string, unknown> {
  const c: Record<string, unknown> = { cniVersion: version, name: "brtest", type: "bridge", bridge: "tbr0", ...extra };
  if (ipam !== null) {
    c.ipam = ipam ?? {
      type: "host-local",
      dataDir: env.dataDir,
      ranges: [[{ subnet: "10.99.0.0/24" }], [{ subnet: "fd99::/64" }]],
    };
  }
  return c;
}

export function run(env: Env, command: string, config: object, ctr: Netns | undefined, containerID: string, extra: { args?: string; ifname?: string } = {}): ExecResult {
  return execPlugin("bridge", {
    command, config, containerID, node: env.node, binDir: env.binDir, path: env.binDir,
    ...(ctr ? { netns: ctr.path } : {}),
    ifname: extra.ifname ?? "eth0",
    ...(extra.args ? { args: extra.args } : {}),
  });
}

export function mustAdd(env: Env, config: object, ctr: Netns, containerID: string, extra: { args?: string; ifname?: string } = {}): any {
  const r = run(env, "ADD", config, ctr, containerID, extra);
  if (r.code !== 0) throw new Error(`ADD failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.json;
}

/** `ip -j addr show dev X` → "addr/prefix" list (global scope only). */
export function addrs(ns: Netns, dev: string): string[] {
  const j = JSON.parse(ns.ip("-j", "addr", "show", "dev", dev)) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
  return (j[0]?.addr_info ?? []).filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`).sort();
}

/** Routes of both families, normalised to "dst via gw" strings (kernel and link-local ones dropped). */
export function routes(ns: Netns): string[] {
  const out: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const j = JSON.parse(ns.ip(fam, "-j", "route", "show")) as { dst: string; gateway?: string; protocol?: string }[];
    for (const r of j) {
      if (r.dst.startsWith("fe80:") || r.dst.startsWith("ff00:") || r.dst.startsWith("multicast")) continue;
      out.push(`${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}`);
    }
  }
  return out.sort();
}

export function links(ns: Netns): { ifname: string; master?: string; operstate: string; address: string; mtu: number; linkinfo?: { info_kind?: string } }[] {
  return JSON.parse(ns.ip("-j", "-d", "link", "show"));
}

export const ping = (from: Netns, to: string) => from.run("ping", [to.includes(":") ? "-6" : "-4", "-c1", "-W2", to], { allowFail: true }).status === 0;
