// Running iptables-restore / iptables-save / nft for masquerading and the MAC spoof check. The Go
// reference execs the same tools; we batch each change into one atomic script per tool and
// family, so an ADD costs 2 execs per family instead of ~8 per address.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { MasqBackend } from "./config";
import {
  iptablesGcScript, iptablesSetupScript, iptablesTeardownScript, iptChainName, iptComment, nftComment, nftDeleteScript,
  nftInstanceHash, nftRulesWithPrefix, nftSetupScript, nftStaleRules, NFT_CHAIN, NFT_TABLE, type NftRule, parseIptablesSave, parseNftRules,
} from "./masq";
import { iptablesNatMayHold, nftChainExists, nftChainRules } from "./nf-probe";

const SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

/** Runtimes often give plugins a minimal PATH; look in the usual places too. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SBIN];
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

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(tool: string, args: string[], input?: string): Run {
  const bin = findTool(tool);
  if (!bin) throw new CniError(Code.PluginNotAvailable, `"${tool}" not found`, "ipMasq and macspoofchk need iptables or nftables installed");
  // node:child_process is loaded on first use: most ADDs and DELs start no tool (start-up time).
  const r = process.getBuiltinModule("node:child_process").spawnSync(bin, args, { input, encoding: "utf8", timeout: 30_000 });
  if (r.error) throw new CniError(Code.Internal, `failed to run ${tool}`, r.error.message);
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function mustRun(tool: string, args: string[], input?: string): string {
  const r = run(tool, args, input);
  if (r.status !== 0) throw new CniError(Code.Internal, `${tool} ${args.join(" ")} failed`, (r.stderr || r.stdout).trim().slice(0, 500) + (input ? `\ninput:\n${input}` : ""));
  return r.stdout;
}

/** The reference's default: iptables, unless only nftables is available. */
export function resolveBackend(configured: MasqBackend | undefined): MasqBackend {
  if (configured) return configured;
  return !findTool("iptables-restore") && findTool("nft") ? "nftables" : "iptables";
}

const ipt = (family: 4 | 6) => (family === 4 ? { save: "iptables-save", restore: "iptables-restore" } : { save: "ip6tables-save", restore: "ip6tables-restore" });

function natTable(family: 4 | 6) {
  return parseIptablesSave(mustRun(ipt(family).save, ["-t", "nat"]));
}

/** The nat table as far as `chain` is concerned: read with iptables-save only if the chain can exist. */
function natTableFor(family: 4 | 6, chain: string) {
  return iptablesNatMayHold(family, chain) ? natTable(family) : { chains: new Set<string>(), postrouting: [] };
}

function restore(family: 4 | 6, script: string): void {
  if (script) mustRun(ipt(family).restore, ["-w", "--noflush"], script);
}

/** Our masquerade rules: from a netlink dump, or from nft when the kernel could not be asked that way. */
function nftRules(): NftRule[] {
  const viaNetlink = nftChainRules("inet", NFT_TABLE, NFT_CHAIN);
  if (viaNetlink) return viaNetlink;
  const r = run("nft", ["--json", "list", "chain", "inet", NFT_TABLE, NFT_CHAIN]);
  // A missing table/chain simply means nothing was set up yet.
  if (r.status !== 0) return [];
  return parseNftRules(r.stdout);
}

export interface MasqTarget {
  network: string;
  containerID: string;
  ifname: string;
}

export function setupMasq(backend: MasqBackend, t: MasqTarget, cidrs: string[]): void {
  if (backend === "nftables") {
    const stale = nftRulesWithPrefix(nftRules(), nftInstanceHash(t.network, t.ifname, t.containerID));
    mustRun("nft", ["-f", "-"], nftSetupScript(stale, cidrs, nftComment(t.network, t.ifname, t.containerID)));
    return;
  }
  const chain = iptChainName(t.network, t.containerID);
  const comment = iptComment(t.network, t.containerID);
  for (const family of [4, 6] as const) {
    const mine = cidrs.filter((c) => (c.includes(":") ? 6 : 4) === family);
    if (mine.length) restore(family, iptablesSetupScript(natTableFor(family, chain), family, mine, chain, comment));
  }
}

/**
 * Remove this attachment's masquerade state in both backends (the config's backend may have
 * changed since ADD, as the reference also assumes). Needs no addresses, so it works without a
 * netns. Missing tools are skipped: nothing can have been set up with them. A backend whose
 * cheap probe (nf-probe.ts) shows no state of this attachment costs no process at all.
 */
export function teardownMasq(t: MasqTarget): void {
  const errors: string[] = [];
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (findTool("nft")) {
    attempt("nftables", () => {
      const rules = nftRulesWithPrefix(nftRules(), nftInstanceHash(t.network, t.ifname, t.containerID));
      if (rules.length) mustRun("nft", ["-f", "-"], nftDeleteScript(rules));
    });
  }
  const chain = iptChainName(t.network, t.containerID);
  for (const family of [4, 6] as const) {
    if (!findTool(ipt(family).save)) continue;
    attempt(`iptables (IPv${family})`, () => {
      if (iptablesNatMayHold(family, chain)) restore(family, iptablesTeardownScript(natTable(family), chain));
    });
  }
  if (errors.length) throw new CniError(Code.Internal, "failed to remove masquerade rules", errors.join("; "));
}

/** GC: remove masquerade state of this network's attachments that are not in `valid`. */
export function gcMasq(network: string, valid: { containerID: string; ifname: string }[]): void {
  if (findTool("nft")) {
    const stale = nftStaleRules(nftRules(), network, valid);
    if (stale.length) mustRun("nft", ["-f", "-"], nftDeleteScript(stale));
  }
  const ids = new Set(valid.map((a) => a.containerID));
  for (const family of [4, 6] as const) {
    if (!findTool(ipt(family).save) || !iptablesNatMayHold(family)) continue;
    restore(family, iptablesGcScript(natTable(family), network, ids));
  }
}

// ---------------- MAC spoof check (nftables bridge family, like the reference's SpoofChecker) ----------------

const SPOOF_TABLE = "bridge nat";
const spoofChains = (id: string) => ({ iface: `cni-br-iface-${id}`, mac: `cni-br-iface-${id}-mac` });
const spoofComment = (id: string) => `macspoofchk-${id}`;

/** Frames entering from `hostIf` must carry `mac` as source, else they are dropped. */
export function setupSpoofCheck(hostIf: string, mac: string, id: string): void {
  const c = spoofChains(id);
  const script = [
    `add table ${SPOOF_TABLE}`,
    `add chain ${SPOOF_TABLE} PREROUTING { type filter hook prerouting priority -300 ; }`,
    `add chain ${SPOOF_TABLE} ${c.iface}`,
    `flush chain ${SPOOF_TABLE} ${c.iface}`,
    `add chain ${SPOOF_TABLE} ${c.mac}`,
    `flush chain ${SPOOF_TABLE} ${c.mac}`,
    `add rule ${SPOOF_TABLE} PREROUTING iifname "${hostIf}" jump ${c.iface} comment "${spoofComment(id)}"`,
    `add rule ${SPOOF_TABLE} ${c.iface} jump ${c.mac}`,
    `add rule ${SPOOF_TABLE} ${c.iface} drop`,
    `add rule ${SPOOF_TABLE} ${c.mac} ether saddr == ${mac} accept`,
  ];
  mustRun("nft", ["-f", "-"], script.join("\n") + "\n");
}

export function teardownSpoofCheck(id: string): void {
  if (!findTool("nft")) return;
  const c = spoofChains(id);
  // The PREROUTING rule jumps to the first chain, so it cannot exist without it.
  if (nftChainExists("bridge", "nat", c.iface) === false && nftChainExists("bridge", "nat", c.mac) === false) return;
  const r = run("nft", ["--json", "-a", "list", "chain", "bridge", "nat", "PREROUTING"]);
  const lines: string[] = [];
  if (r.status === 0) {
    for (const rule of parseNftRules(r.stdout)) {
      if (rule.comment === spoofComment(id)) lines.push(`delete rule ${SPOOF_TABLE} PREROUTING handle ${rule.handle}`);
    }
  }
  const chains = run("nft", ["--json", "list", "chains", "bridge"]);
  const has = (name: string) => chains.status === 0 && chains.stdout.includes(`"${name}"`);
  // Empty both chains first: a chain still jumped to, or holding rules, cannot be deleted.
  for (const name of [c.iface, c.mac]) if (has(name)) lines.push(`flush chain ${SPOOF_TABLE} ${name}`);
  for (const name of [c.iface, c.mac]) if (has(name)) lines.push(`delete chain ${SPOOF_TABLE} ${name}`);
  if (lines.length) mustRun("nft", ["-f", "-"], lines.join("\n") + "\n");
}
