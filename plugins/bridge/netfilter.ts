// Running iptables-restore / iptables-save / nft for masquerading and the MAC spoof check. The Go
// reference execs the same tools; we batch each change into one atomic script per tool and
// family, so an ADD costs 2 execs per family instead of ~8 per address.
import { CniError, Code } from "../../core/errors";
import type { Attachment, AttachmentKey } from "../../core/plugin";
import { Teardown } from "../../core/undo";
import { findTool, runTool } from "../../kernel/tools";
import type { MasqBackend } from "./config";
import {
  iptablesGcScript, iptablesSetupScript, iptablesTeardownScript, iptAltChainName, iptChainName, legacySpoofNames, nftComment, nftDeleteScript,
  nftInstanceHash, nftNetworkHash, nftRulesWithPrefix, nftSetupScript, nftStaleRules, NFT_CHAIN, NFT_TABLE, type NftRule, parseIptablesSave,
  parseNftRules, spoofChains, spoofComment, spoofCommentPrefix, spoofKey, spoofKeyOf,
} from "./masq";
import { iptablesNatMayHold, nftChainExists, nftChainRules, nftTableExists } from "./nf-probe";

function mustRun(tool: string, args: string[], input?: string): string {
  const r = runTool(tool, args, input);
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

/** Can this attachment's state exist in the nat table of `family` (either of its chain names)? */
const keyMayExist = (family: 4 | 6, t: AttachmentKey) => iptablesNatMayHold(family, iptChainName(t)) || iptablesNatMayHold(family, iptAltChainName(t));

/** The nat table as far as this attachment is concerned: read with iptables-save only if its chains can exist. */
function natTableFor(family: 4 | 6, t: AttachmentKey) {
  return keyMayExist(family, t) ? natTable(family) : { chains: new Set<string>(), rules: [] };
}

function restore(family: 4 | 6, script: string): void {
  if (script) mustRun(ipt(family).restore, ["-w", "--noflush"], script);
}

/**
 * The rules of one chain: from a netlink dump, or from nft when the kernel could not be asked that
 * way. "None" only when the kernel said the chain does not exist (ENOENT); nft failing otherwise is
 * an error, never an empty list, which DEL and GC would take for "nothing of ours is there".
 */
function chainRules(family: "inet" | "bridge", table: string, chain: string): NftRule[] {
  const viaNetlink = nftChainRules(family, table, chain);
  if (viaNetlink) return viaNetlink;
  const r = runTool("nft", ["--json", "-a", "list", "chain", family, table, chain]);
  if (r.status === 0) return parseNftRules(r.stdout);
  if (nftChainExists(family, table, chain) === false) return [];
  throw new CniError(Code.Internal, `nft list chain ${family} ${table} ${chain} failed`, (r.stderr || r.stdout).trim().slice(0, 500));
}

/** Our masquerade rules (inet cni_plugins_masquerade masq_checks). */
const nftRules = () => chainRules("inet", NFT_TABLE, NFT_CHAIN);

export function setupMasq(backend: MasqBackend, t: AttachmentKey, cidrs: string[]): void {
  if (backend === "nftables") {
    const stale = nftRulesWithPrefix(nftRules(), nftInstanceHash(t));
    mustRun("nft", ["-f", "-"], nftSetupScript(stale, cidrs, nftComment(t)));
    return;
  }
  for (const family of [4, 6] as const) {
    const mine = cidrs.filter((c) => (c.includes(":") ? 6 : 4) === family);
    if (mine.length) restore(family, iptablesSetupScript(natTableFor(family, t), family, mine, t));
  }
}

/**
 * Remove this attachment's masquerade state in both backends (the config's backend may have
 * changed since ADD, as the reference also assumes). Needs no addresses, so it works without a
 * netns. Missing tools are skipped: nothing can have been set up with them. A backend whose
 * cheap probe (nf-probe.ts) shows no state of this attachment costs no process at all.
 * `addresses` (from prevResult, or the ADD being undone) narrows the iptables jumps to this
 * interface's: the pod's other interfaces on the same network share the reference's key.
 */
export function teardownMasq(t: AttachmentKey, addresses?: string[]): void {
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
      const rules = nftRulesWithPrefix(nftRules(), nftInstanceHash(t));
      if (rules.length) mustRun("nft", ["-f", "-"], nftDeleteScript(rules));
    });
  }
  for (const family of [4, 6] as const) {
    if (!findTool(ipt(family).save)) continue;
    const mine = addresses?.filter((a) => (a.includes(":") ? 6 : 4) === family);
    attempt(`iptables (IPv${family})`, () => {
      if (keyMayExist(family, t)) restore(family, iptablesTeardownScript(natTable(family), t, mine));
    });
  }
  if (errors.length) throw new CniError(Code.Internal, "failed to remove masquerade rules", errors.join("; "));
}

/**
 * GC: remove masquerade state of this network's attachments that are not in `valid`. Each backend
 * and family is attempted whatever happened to the others; every failure is reported.
 */
export function gcMasq(network: string, valid: readonly Attachment[]): void {
  const parts = new Teardown();
  if (findTool("nft")) {
    parts.attempt("nftables", () => {
      const stale = nftStaleRules(nftRules(), network, valid);
      if (stale.length) mustRun("nft", ["-f", "-"], nftDeleteScript(stale));
    });
  }
  const ids = valid.map((a) => a.containerID);
  for (const family of [4, 6] as const) {
    if (!findTool(ipt(family).save) || !iptablesNatMayHold(family)) continue;
    parts.attempt(`iptables (IPv${family})`, () => restore(family, iptablesGcScript(natTable(family), network, ids)));
  }
  parts.finish();
}

// ---------------- MAC spoof check (nftables bridge family, like the reference's SpoofChecker) ----------------
// Chains and comments are keyed by (network, containerID, ifname) (masq.ts: spoofKey); DEL also
// removes the reference's "cni-br-iface-<id>-<ifname>" state, so a node can move from it to us.

const SPOOF_TABLE = "bridge nat";

/** Frames entering from `hostIf` must carry `mac` as source, else they are dropped. */
export function setupSpoofCheck(hostIf: string, mac: string, t: AttachmentKey): void {
  const c = spoofChains(spoofKey(t));
  const comment = spoofComment(t).replace(/"/g, "");
  const script = [
    `add table ${SPOOF_TABLE}`,
    `add chain ${SPOOF_TABLE} PREROUTING { type filter hook prerouting priority -300 ; }`,
    `add chain ${SPOOF_TABLE} ${c.iface}`,
    `flush chain ${SPOOF_TABLE} ${c.iface}`,
    `add chain ${SPOOF_TABLE} ${c.mac}`,
    `flush chain ${SPOOF_TABLE} ${c.mac}`,
    `add rule ${SPOOF_TABLE} PREROUTING iifname "${hostIf}" jump ${c.iface} comment "${comment}"`,
    `add rule ${SPOOF_TABLE} ${c.iface} jump ${c.mac}`,
    `add rule ${SPOOF_TABLE} ${c.iface} drop`,
    `add rule ${SPOOF_TABLE} ${c.mac} ether saddr == ${mac} accept`,
  ];
  mustRun("nft", ["-f", "-"], script.join("\n") + "\n");
}

/** PREROUTING rules of the bridge nat table; [] only when the kernel says the chain is missing. */
const preroutingRules = () => chainRules("bridge", "nat", "PREROUTING");

/** The chains of the bridge family as `nft --json list chains bridge` prints them; "" when the kernel says there is no bridge nat table. */
function bridgeChains(): string {
  const r = runTool("nft", ["--json", "list", "chains", "bridge"]);
  if (r.status === 0) return r.stdout;
  if (nftTableExists("bridge", "nat") === false) return "";
  throw new CniError(Code.Internal, "nft list chains bridge failed", (r.stderr || r.stdout).trim().slice(0, 500));
}

interface SpoofNames {
  iface: string;
  mac: string;
  isMine: (comment: string | undefined) => boolean;
  /** A PREROUTING comment whose presence means `mac` is also someone's first chain (reference names only). */
  macOf?: string;
}

/** Delete the PREROUTING rules and the chains of these spoof-check names; one nft run, none if nothing exists. */
function removeSpoofState(names: SpoofNames[]): void {
  const present = names.filter((n) => nftChainExists("bridge", "nat", n.iface) !== false || nftChainExists("bridge", "nat", n.mac) !== false);
  // The PREROUTING rule jumps to the first chain, so it cannot exist without it.
  if (!present.length) return;
  const lines: string[] = [];
  const rules = preroutingRules();
  for (const rule of rules) {
    if (present.some((n) => n.isMine(rule.comment))) lines.push(`delete rule ${SPOOF_TABLE} PREROUTING handle ${rule.handle}`);
  }
  const chains = bridgeChains();
  const has = (name: string) => chains.includes(`"${name}"`);
  const ofNames = (n: SpoofNames) => (n.macOf !== undefined && rules.some((r) => r.comment === n.macOf) ? [n.iface] : [n.iface, n.mac]);
  // Empty the chains first: a chain still jumped to, or holding rules, cannot be deleted.
  for (const n of present) for (const name of ofNames(n)) if (has(name)) lines.push(`flush chain ${SPOOF_TABLE} ${name}`);
  for (const n of present) for (const name of ofNames(n)) if (has(name)) lines.push(`delete chain ${SPOOF_TABLE} ${name}`);
  if (lines.length) mustRun("nft", ["-f", "-"], lines.join("\n") + "\n");
}

const ourSpoofNames = (key: string): SpoofNames => {
  const prefix = spoofCommentPrefix(key);
  return { ...spoofChains(key), isMine: (c) => c === prefix || c?.startsWith(`${prefix},`) === true };
};

export function teardownSpoofCheck(t: AttachmentKey): void {
  if (!findTool("nft")) return;
  const names = [ourSpoofNames(spoofKey(t))];
  const legacy = legacySpoofNames(t);
  if (legacy) names.push({ iface: legacy.iface, mac: legacy.mac, isMine: (c) => c === legacy.comment, macOf: legacy.macOf });
  removeSpoofState(names);
}

/** GC: spoof-check state of this network's attachments that are not valid (ours only: the reference's names carry no network). */
export function gcSpoofCheck(network: string, valid: readonly Attachment[]): void {
  if (!findTool("nft") || nftChainExists("bridge", "nat", "PREROUTING") === false) return;
  const keep = new Set(valid.map((a) => spoofKey({ network, containerID: a.containerID, ifname: a.ifname })));
  const stale = new Set<string>();
  for (const rule of preroutingRules()) {
    const key = spoofKeyOf(rule.comment);
    if (key && key.startsWith(`${nftNetworkHash(network)}-`) && !keep.has(key)) stale.add(key);
  }
  removeSpoofState([...stale].map(ourSpoofNames));
}
