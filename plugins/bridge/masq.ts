// IP masquerade rules and MAC spoof-check names, as text for iptables-restore and nft (pure
// builders and parsers; running them is in netfilter.ts). Names and comments match the Go
// reference so a node can switch in either direction:
//   iptables: chain "CNI-" + sha512(network + containerID)[:24], comment `name: "<net>" id: "<id>"`,
//             POSTROUTING -s <ip> -j <chain>; chain: ACCEPT to the subnet, MASQUERADE non-multicast.
//   nftables: table inet cni_plugins_masquerade, chain masq_checks, one rule per address whose
//             comment begins with sha512(network)[:16] "-" sha512(ifname ":" id)[:16].
// Unlike the reference, teardown never needs the container's addresses (plugins #810): the
// iptables chain and its POSTROUTING jumps are found by name, the nft rules by comment.
//
// Names (issue #11). The reference's iptables key is (network, containerID) — no ifname — and
// its chain hashes the plain concatenation, so ("ab", "c") and ("a", "bc") share a chain, and the
// two interfaces of one pod on one network share chain and comment. Ours never touches a
// neighbour's state:
//   - a POSTROUTING jump is this attachment's only if it carries this key's comment, and (when
//     the caller knows the addresses: ADD, and DEL with prevResult) comes from one of its addresses;
//   - a chain is removed only when no jump at all is left to it;
//   - when the reference chain name is in use by another key (a concatenation twin), ADD uses
//     "CNI-" + sha512(network "/" containerID)[:24] instead ("/" is in neither name, so this
//     cannot equal any reference name); DEL and GC look at both names.
// iptables keeps at most 255 bytes of a comment (longer ones are cut silently; iptables-restore
// refuses parameters over 1,024 bytes), so comments are cut to 255 bytes here. A cut comment may
// no longer name the network exactly (networks of 248+ characters): then the rules inside our
// chain carry `name-sha512: <32 hex> id-sha512: <32 hex>` instead, which GC matches.
//
// Keys are typed: an attachment travels as one AttachmentKey {network, containerID, ifname} (core/
// plugin.ts), the iptables key as MasqKey {network, containerID}. The name functions also take the
// positional forms the name tests use, in the reference's own argument orders (nftInstanceHash:
// network, ifname, ID; spoofKey: network, ID, ifname); our code passes keys.
import type { Attachment, AttachmentKey } from "../../core/plugin";
import { formatIpBytes, networkOf, parseCidr, parseIpBytes } from "../../core/ip";

// node:crypto is loaded on first use: an ADD without masquerading never needs it (start-up time).
const sha512hex = (s: string) => process.getBuiltinModule("node:crypto").createHash("sha512").update(s).digest("hex");

/** `s` cut to at most `max` bytes of UTF-8, never inside a character. */
export function cutBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

// ---------------- iptables ----------------

/** What iptables keeps of a comment: XT_MAX_COMMENT_LEN (256) with its NUL. */
export const IPT_COMMENT_MAX = 255;

/** The reference's iptables key: no ifname (a pod's interfaces on one network share it). */
export type MasqKey = Pick<AttachmentKey, "network" | "containerID">;

/** A key from a MasqKey or the positional (network, containerID). */
const masqKey = (k: MasqKey | string, containerID?: string): MasqKey => (typeof k === "string" ? { network: k, containerID: containerID! } : k);

/** The reference's chain name (sha512 of the plain concatenation). */
export function iptChainName(key: MasqKey): string;
export function iptChainName(network: string, containerID: string): string;
export function iptChainName(k: MasqKey | string, id?: string): string {
  const { network, containerID } = masqKey(k, id);
  return `CNI-${sha512hex(network + containerID)}`.slice(0, 28);
}
/** Ours when the reference name is taken by another key; never equal to a reference name ("/" is in no name). */
export function iptAltChainName(key: MasqKey): string;
export function iptAltChainName(network: string, containerID: string): string;
export function iptAltChainName(k: MasqKey | string, id?: string): string {
  const { network, containerID } = masqKey(k, id);
  return `CNI-${sha512hex(`${network}/${containerID}`)}`.slice(0, 28);
}
/** Go's fmt %q; names and IDs are validated to [A-Za-z0-9_.-] so plain quoting is exact. */
const goQuote = (s: string) => JSON.stringify(s);
const fullComment = (k: MasqKey) => `name: ${goQuote(k.network)} id: ${goQuote(k.containerID)}`;
/** The POSTROUTING comment, as iptables stores it (the reference's, cut to 255 bytes). */
export function iptComment(key: MasqKey): string;
export function iptComment(network: string, containerID: string): string;
export function iptComment(k: MasqKey | string, id?: string): string {
  return cutBytes(fullComment(masqKey(k, id)), IPT_COMMENT_MAX);
}
const netHashComment = (network: string) => `name-sha512: ${sha512hex(network).slice(0, 32)} `;
/** The comment of the rules inside the chain: the reference's, or hashes when that had to be cut. */
export function iptChainComment(key: MasqKey): string;
export function iptChainComment(network: string, containerID: string): string;
export function iptChainComment(k: MasqKey | string, id?: string): string {
  const key = masqKey(k, id);
  const full = fullComment(key);
  return Buffer.byteLength(full) <= IPT_COMMENT_MAX ? full : `${netHashComment(key.network)}id-sha512: ${sha512hex(key.containerID).slice(0, 32)}`;
}

/** Quoting for iptables-restore: double quotes with backslash-escaped inner quotes. */
const restoreQuote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

const MULTICAST = { 4: "224.0.0.0/4", 6: "ff00::/8" } as const;

/** One `-A` line of `iptables-save -t nat`, with the parts we look at. */
export interface IptRule {
  line: string;
  chain: string;
  source?: string;
  dest?: string;
  comment?: string;
  target?: string;
}

/** The nat table as `iptables-save -t nat` prints it. */
export interface NatTable {
  chains: Set<string>;
  rules: IptRule[];
}

/** Split a saved rule into arguments: double quotes group, a backslash escapes the next character. */
export function splitSavedArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let started = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      started = true;
    } else if (c === " ") {
      if (started) out.push(cur);
      cur = "";
      started = false;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) out.push(cur);
  return out;
}

function parseRule(line: string): IptRule {
  const args = splitSavedArgs(line);
  const rule: IptRule = { line, chain: args[1] ?? "" };
  for (let i = 2; i < args.length - 1; i++) {
    const next = args[i + 1]!;
    if (args[i] === "-s") rule.source = next;
    else if (args[i] === "-d") rule.dest = next;
    else if (args[i] === "--comment") rule.comment = next;
    else if (args[i] === "-j") rule.target = next;
  }
  return rule;
}

export function parseIptablesSave(text: string): NatTable {
  const chains = new Set<string>();
  const rules: IptRule[] = [];
  let inNat = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) inNat = line === "*nat";
    else if (!inNat) continue;
    else if (line.startsWith(":")) chains.add(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A ")) rules.push(parseRule(line));
  }
  return { chains, rules };
}

/** "10.1.0.5/32" and "fd00::0005/128" alike: address in canonical text, prefix length. */
function canonCidr(s: string): string {
  try {
    const c = parseCidr(s);
    return `${formatIpBytes(parseIpBytes(c.address))}/${c.prefixLen}`;
  } catch {
    return s;
  }
}

const hostCidr = (cidr: string) => {
  const c = parseCidr(cidr);
  return canonCidr(`${c.address}/${c.family === 4 ? 32 : 128}`);
};
const subnetOf = (cidr: string) => {
  const c = parseCidr(cidr);
  return `${networkOf(c)}/${c.prefixLen}`;
};

const isJump = (r: IptRule) => r.chain === "POSTROUTING" && r.target !== undefined && /^CNI-[0-9a-f]{24}$/.test(r.target);
const deleteLine = (r: IptRule) => `-D ${r.line.slice(3)}`;
const dropChain = (chain: string) => [`:${chain} - [0:0]`, `-X ${chain}`]; // declaring flushes it under --noflush
const wrap = (lines: string[]) => (lines.length ? `*nat\n${lines.join("\n")}\nCOMMIT\n` : "");

/** Chain `name` exists and holds rules with comments other than `own` (another key's chain). */
function heldByOthers(nat: NatTable, name: string, own: Set<string>, jumps: IptRule[]): boolean {
  if (!nat.chains.has(name)) return false;
  return jumps.some((r) => r.target === name && !own.has(r.comment ?? "")) || nat.rules.some((r) => r.chain === name && r.comment !== undefined && !own.has(r.comment));
}

/**
 * One atomic iptables-restore script for one family: this attachment's jumps for `cidrs` (a
 * repeated ADD replaces its own), its chain (all ACCEPTs before the MASQUERADE; the reference
 * appends per address, so a second subnet's ACCEPT lands after the MASQUERADE). A chain still
 * used by this key's other interfaces is kept, only what it lacks is added.
 */
export function iptablesSetupScript(nat: NatTable, family: 4 | 6, cidrs: string[], key: MasqKey): string {
  const comment = iptComment(key);
  const inChain = iptChainComment(key);
  const own = new Set([comment, inChain]);
  const ref = iptChainName(key);
  const alt = iptAltChainName(key);
  const ours = new Set(cidrs.map(hostCidr));
  const jumps = nat.rules.filter((r) => isJump(r) && (r.target === ref || r.target === alt));
  const replaced = jumps.filter((r) => r.comment === comment && r.source !== undefined && ours.has(canonCidr(r.source)));
  const remaining = jumps.filter((r) => !replaced.includes(r));
  const lines = replaced.map(deleteLine);

  const chain = heldByOthers(nat, ref, own, remaining) ? alt : ref;
  const c = restoreQuote(inChain);
  if (nat.chains.has(chain) && remaining.some((r) => r.target === chain)) {
    const inside = nat.rules.filter((r) => r.chain === chain);
    for (const subnet of [...new Set(cidrs.map(subnetOf))].reverse()) {
      if (!inside.some((r) => r.target === "ACCEPT" && r.dest !== undefined && canonCidr(r.dest) === canonCidr(subnet))) {
        lines.push(`-I ${chain} 1 -d ${subnet} -m comment --comment ${c} -j ACCEPT`);
      }
    }
    if (!inside.some((r) => r.target === "MASQUERADE")) lines.push(`-A ${chain} ! -d ${MULTICAST[family]} -m comment --comment ${c} -j MASQUERADE`);
  } else {
    lines.push(`:${chain} - [0:0]`);
    for (const subnet of new Set(cidrs.map(subnetOf))) lines.push(`-A ${chain} -d ${subnet} -m comment --comment ${c} -j ACCEPT`);
    lines.push(`-A ${chain} ! -d ${MULTICAST[family]} -m comment --comment ${c} -j MASQUERADE`);
  }
  // This key's other chain, left without jumps by an earlier ADD: remove it, unless it is another key's.
  const other = chain === ref ? alt : ref;
  if (nat.chains.has(other) && !remaining.some((r) => r.target === other) && !heldByOthers(nat, other, own, remaining)) lines.push(...dropChain(other));
  for (const cidr of cidrs) lines.push(`-A POSTROUTING -s ${hostCidr(cidr)} -m comment --comment ${restoreQuote(comment)} -j ${chain}`);
  return wrap(lines);
}

/**
 * Remove this attachment's jumps — those of `addresses` when known (the other interfaces of
 * the same pod on the same network share the key), else all of the key's — and each of the key's
 * chains that no jump is left to. Never a jump with another comment, never a chain still in use.
 */
export function iptablesTeardownScript(nat: NatTable, key: MasqKey, addresses?: string[]): string {
  const comment = iptComment(key);
  const own = new Set([comment, iptChainComment(key)]);
  const names = [iptChainName(key), iptAltChainName(key)];
  const only = addresses?.length ? new Set(addresses.map(hostCidr)) : undefined;
  const jumps = nat.rules.filter((r) => isJump(r) && names.includes(r.target!));
  const mine = jumps.filter((r) => r.comment === comment && (!only || (r.source !== undefined && only.has(canonCidr(r.source)))));
  const remaining = jumps.filter((r) => !mine.includes(r));
  const lines = mine.map(deleteLine);
  for (const name of names) {
    if (nat.chains.has(name) && !remaining.some((r) => r.target === name) && !heldByOthers(nat, name, own, remaining)) lines.push(...dropChain(name));
  }
  return wrap(lines);
}

/**
 * GC: jumps of this network's attachments whose chain belongs to no valid attachment, and the
 * chains left without jumps (also those a crash left without any). A jump is this network's when
 * its comment starts with `name: "<net>" id: "` (as far as 255 bytes keep it) — and, when the
 * whole ID is in it, jumps to that ID's chain; where even the network name was cut (248+
 * characters), when the rules inside its chain carry this network's hash (we made it).
 */
export function iptablesGcScript(nat: NatTable, network: string, validIDs: Iterable<string>): string {
  const validChains = new Set([...validIDs].flatMap((containerID) => [iptChainName({ network, containerID }), iptAltChainName({ network, containerID })]));
  const head = `name: ${goQuote(network)}`;
  const exact = Buffer.byteLength(head) <= IPT_COMMENT_MAX; // the comment still shows where the name ends
  const prefix = cutBytes(`${head} id: "`, IPT_COMMENT_MAX);
  const hashed = netHashComment(network);
  const inside = (chain: string) => nat.rules.filter((r) => r.chain === chain);
  const idFits = (chain: string, comment: string) => {
    const containerID = /^([A-Za-z0-9][A-Za-z0-9_.\-]*)"$/.exec(comment.slice(prefix.length))?.[1];
    return containerID === undefined || chain === iptChainName({ network, containerID }) || chain === iptAltChainName({ network, containerID });
  };
  const hashedInside = (chain: string) => inside(chain).length > 0 && inside(chain).every((r) => r.comment?.startsWith(hashed));
  const jumpOfNetwork = (r: IptRule) =>
    exact ? r.comment?.startsWith(prefix) === true && idFits(r.target!, r.comment) : r.comment === cutBytes(head, IPT_COMMENT_MAX) && hashedInside(r.target!);
  const chainOfNetwork = (chain: string) =>
    hashedInside(chain) || (exact && inside(chain).length > 0 && inside(chain).every((r) => r.comment?.startsWith(prefix) === true && idFits(chain, r.comment)));
  const jumps = nat.rules.filter(isJump);
  const stale = jumps.filter((r) => !validChains.has(r.target!) && jumpOfNetwork(r));
  const remaining = jumps.filter((r) => !stale.includes(r));
  const lines = stale.map(deleteLine);
  const candidates = new Set(stale.map((r) => r.target!));
  // Chains of this network nothing jumps to (a crash between the reference's separate steps).
  for (const chain of nat.chains) {
    if (/^CNI-[0-9a-f]{24}$/.test(chain) && !validChains.has(chain) && !jumps.some((r) => r.target === chain) && chainOfNetwork(chain)) candidates.add(chain);
  }
  for (const chain of candidates) if (!remaining.some((r) => r.target === chain)) lines.push(...dropChain(chain));
  return wrap(lines);
}

// ---------------- nftables ----------------

export const NFT_TABLE = "cni_plugins_masquerade";
export const NFT_CHAIN = "masq_checks";
/** nft refuses comments over 128 bytes. */
export const NFT_COMMENT_MAX = 128;
export const nftNetworkHash = (network: string) => sha512hex(network).slice(0, 16);
/** A key from an AttachmentKey or the reference's positional (network, ifname, containerID). */
const byIfname = (k: AttachmentKey | string, ifname?: string, containerID?: string): AttachmentKey =>
  typeof k === "string" ? { network: k, containerID: containerID!, ifname: ifname! } : k;
/** The reference's instance hash: sha512(network)[:16] "-" sha512(ifname ":" containerID)[:16]. */
export function nftInstanceHash(key: AttachmentKey): string;
export function nftInstanceHash(network: string, ifname: string, containerID: string): string;
export function nftInstanceHash(k: AttachmentKey | string, ifname?: string, containerID?: string): string {
  const key = byIfname(k, ifname, containerID);
  return `${nftNetworkHash(key.network)}-${sha512hex(`${key.ifname}:${key.containerID}`).slice(0, 16)}`;
}
const INSTANCE_HASH_LEN = 33;
export function nftComment(key: AttachmentKey): string;
export function nftComment(network: string, ifname: string, containerID: string): string;
export function nftComment(k: AttachmentKey | string, ifname?: string, containerID?: string): string {
  const key = byIfname(k, ifname, containerID);
  const strip = (s: string) => s.replace(/"/g, "");
  return cutBytes(`${nftInstanceHash(key)}, net: ${strip(key.network)}, if: ${strip(key.ifname)}, id: ${strip(key.containerID)}`, NFT_COMMENT_MAX);
}

export interface NftRule {
  handle: number;
  comment?: string;
}

/** Rules of masq_checks from `nft --json list chain inet cni_plugins_masquerade masq_checks`. */
export function parseNftRules(json: string): NftRule[] {
  const out: NftRule[] = [];
  const doc = JSON.parse(json) as { nftables?: { rule?: { handle: number; comment?: string } }[] };
  for (const item of doc.nftables ?? []) {
    if (item.rule) out.push({ handle: item.rule.handle, ...(item.rule.comment !== undefined ? { comment: item.rule.comment } : {}) });
  }
  return out;
}

const nftQuote = (s: string) => `"${s.replace(/"/g, "")}"`;
const T = `inet ${NFT_TABLE}`;

export function nftSetupScript(stale: NftRule[], cidrs: string[], comment: string): string {
  const lines = [
    `add table ${T} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${T} ${NFT_CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority 100 ; }`,
    `flush chain ${T} postrouting`,
    `add rule ${T} postrouting ip daddr == 224.0.0.0/4 return`,
    `add rule ${T} postrouting ip6 daddr == ff00::/8 return`,
    `add rule ${T} postrouting goto ${NFT_CHAIN}`,
    ...stale.map((r) => `delete rule ${T} ${NFT_CHAIN} handle ${r.handle}`),
  ];
  for (const cidr of cidrs) {
    const p = parseCidr(cidr);
    const ip = p.family === 4 ? "ip" : "ip6";
    lines.push(`add rule ${T} ${NFT_CHAIN} ${ip} saddr == ${p.address} ${ip} daddr != ${networkOf(p)}/${p.prefixLen} masquerade comment ${nftQuote(comment)}`);
  }
  return lines.join("\n") + "\n";
}

export const nftDeleteScript = (rules: NftRule[]) => rules.map((r) => `delete rule ${T} ${NFT_CHAIN} handle ${r.handle}`).join("\n") + (rules.length ? "\n" : "");

export const nftRulesWithPrefix = (rules: NftRule[], prefix: string) => rules.filter((r) => r.comment?.startsWith(prefix));

/** GC: rules of this network whose instance hash (the comment's first 33 characters) is no valid attachment's, as the reference. */
export function nftStaleRules(rules: NftRule[], network: string, valid: readonly Attachment[]): NftRule[] {
  const keep = new Set(valid.map((a) => nftInstanceHash({ network, containerID: a.containerID, ifname: a.ifname })));
  return nftRulesWithPrefix(rules, `${nftNetworkHash(network)}-`).filter((r) => !keep.has(r.comment!.slice(0, INSTANCE_HASH_LEN)));
}

// ---------------- MAC spoof check names (nftables bridge family) ----------------
//
// The reference names the chains "cni-br-iface-<containerID>-<ifname>" (+ "-mac"): ("pod-x",
// "eth0") and ("pod", "x-eth0") share them, so does the same pod on two networks, and IDs past
// ~240 characters or ifnames outside nft's identifier characters (UTF-8) make nft fail. Ours are
// keyed by the spec's (network, containerID, ifname), as the nft masquerade rules are:
// "cni-br-iface-<network hash>-<instance hash>" (50 bytes with "-mac"); the PREROUTING rule's
// comment starts with "macspoofchk-" and the same key, so GC can find a network's rules.

/** A key from an AttachmentKey or the positional (network, containerID, ifname). */
const byID = (k: AttachmentKey | string, containerID?: string, ifname?: string): AttachmentKey =>
  typeof k === "string" ? { network: k, containerID: containerID!, ifname: ifname! } : k;
/** The spoof-check key: the attachment's nft instance hash. */
export function spoofKey(key: AttachmentKey): string;
export function spoofKey(network: string, containerID: string, ifname: string): string;
export function spoofKey(k: AttachmentKey | string, containerID?: string, ifname?: string): string {
  return nftInstanceHash(byID(k, containerID, ifname));
}
export const spoofChains = (key: string) => ({ iface: `cni-br-iface-${key}`, mac: `cni-br-iface-${key}-mac` });
export const spoofCommentPrefix = (key: string) => `macspoofchk-${key}`;
export function spoofComment(key: AttachmentKey): string;
export function spoofComment(network: string, containerID: string, ifname: string): string;
export function spoofComment(k: AttachmentKey | string, containerID?: string, ifname?: string): string {
  const key = byID(k, containerID, ifname);
  const strip = (s: string) => s.replace(/"/g, "");
  return cutBytes(`${spoofCommentPrefix(spoofKey(key))}, net: ${strip(key.network)}, if: ${strip(key.ifname)}, id: ${strip(key.containerID)}`, NFT_COMMENT_MAX);
}
/** The key a spoof-check comment of ours carries, if it is one. */
export function spoofKeyOf(comment: string | undefined): string | undefined {
  return /^macspoofchk-([0-9a-f]{16}-[0-9a-f]{16})(,|$)/.exec(comment ?? "")?.[1];
}

/**
 * The reference's names for this attachment, which DEL removes too, so attachments the reference
 * made are cleaned up after a switch — but only where they are nobody else's. Neither the ID nor
 * the ifname may hold a "-": then "<id>-<ifname>" splits one way only (("pod", "x-eth0") and
 * ("pod-x", "eth0") are both "pod-x-eth0"). The one overlap left is the "-mac" chain being the
 * first chain of ("<id>", "<ifname>-mac") or ("<id>-<ifname>", "mac"); both put `macOf` on their
 * PREROUTING rule, which the caller checks. Names nft text syntax cannot spell are left (the
 * reference writes JSON, so it may have made them).
 */
export function legacySpoofNames(a: Attachment): { iface: string; mac: string; comment: string; macOf: string } | undefined;
export function legacySpoofNames(containerID: string, ifname: string): { iface: string; mac: string; comment: string; macOf: string } | undefined;
export function legacySpoofNames(a: Attachment | string, ifnameArg?: string): { iface: string; mac: string; comment: string; macOf: string } | undefined {
  const { containerID, ifname } = typeof a === "string" ? { containerID: a, ifname: ifnameArg! } : a;
  if (!/^[A-Za-z0-9_.]+$/.test(ifname) || !/^[A-Za-z0-9_.]+$/.test(containerID)) return undefined;
  const iface = `cni-br-iface-${containerID}-${ifname}`;
  const comment = `macspoofchk-${containerID}-${ifname}`;
  if (Buffer.byteLength(`${iface}-mac`) > 255 || Buffer.byteLength(`${comment}-mac`) > NFT_COMMENT_MAX) return undefined;
  return { iface, mac: `${iface}-mac`, comment, macOf: `${comment}-mac` };
}
