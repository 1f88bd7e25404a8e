// IP masquerade rules, as text for iptables-restore and nft (pure builders and parsers; running
// them is in netfilter.ts). Names and comments match the Go reference so a node can switch in
// either direction:
//   iptables: chain "CNI-" + sha512(network + containerID)[:24], comment `name: "<net>" id: "<id>"`,
//             POSTROUTING -s <ip> -j <chain>; chain: ACCEPT to the subnet, MASQUERADE non-multicast.
//   nftables: table inet cni_plugins_masquerade, chain masq_checks, one rule per address whose
//             comment begins with sha512(network)[:16] "-" sha512(ifname ":" id)[:16].
// Unlike the reference, teardown never needs the container's addresses (plugins #810): the
// iptables chain and its POSTROUTING jumps are found by name, the nft rules by comment.
import { networkOf, parseCidr } from "../../kernel/netlink/ip";

// node:crypto is loaded on first use: an ADD without masquerading never needs it (start-up time).
const sha512hex = (s: string) => process.getBuiltinModule("node:crypto").createHash("sha512").update(s).digest("hex");

export const iptChainName = (network: string, containerID: string) => `CNI-${sha512hex(network + containerID)}`.slice(0, 28);
/** Go's fmt %q; names and IDs are validated to [A-Za-z0-9_.-] so plain quoting is exact. */
const goQuote = (s: string) => JSON.stringify(s);
export const iptComment = (network: string, containerID: string) => `name: ${goQuote(network)} id: ${goQuote(containerID)}`;

export const NFT_TABLE = "cni_plugins_masquerade";
export const NFT_CHAIN = "masq_checks";
const NFT_COMMENT_MAX = 128;
export const nftNetworkHash = (network: string) => sha512hex(network).slice(0, 16);
export const nftInstanceHash = (network: string, ifname: string, id: string) => `${nftNetworkHash(network)}-${sha512hex(`${ifname}:${id}`).slice(0, 16)}`;
export function nftComment(network: string, ifname: string, id: string): string {
  const strip = (s: string) => s.replace(/"/g, "");
  return `${nftInstanceHash(network, ifname, id)}, net: ${strip(network)}, if: ${strip(ifname)}, id: ${strip(id)}`.slice(0, NFT_COMMENT_MAX);
}

/** iptables-restore quoting: double quotes with backslash-escaped inner quotes. */
const restoreQuote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

const MULTICAST = { 4: "224.0.0.0/4", 6: "ff00::/8" } as const;

/** The parts of `iptables-save -t nat` we care about. */
export interface NatTable {
  chains: Set<string>;
  /** POSTROUTING rules, as saved ("-A POSTROUTING ..."). */
  postrouting: string[];
}

export function parseIptablesSave(text: string): NatTable {
  const chains = new Set<string>();
  const postrouting: string[] = [];
  let inNat = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) inNat = line === "*nat";
    else if (!inNat) continue;
    else if (line.startsWith(":")) chains.add(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A POSTROUTING ")) postrouting.push(line);
  }
  return { chains, postrouting };
}

const jumpsTo = (rule: string, chain: string) => rule.endsWith(` -j ${chain}`) || rule.includes(` -j ${chain} `);

/** Lines removing `chain` and every POSTROUTING jump to it (empty when nothing exists). */
function removeLines(nat: NatTable, chain: string): string[] {
  const lines = nat.postrouting.filter((r) => jumpsTo(r, chain)).map((r) => `-D ${r.slice(3)}`);
  // Declaring the chain flushes it under --noflush, so -X then succeeds.
  if (nat.chains.has(chain)) lines.push(`:${chain} - [0:0]`, `-X ${chain}`);
  return lines;
}

const wrap = (lines: string[]) => (lines.length ? `*nat\n${lines.join("\n")}\nCOMMIT\n` : "");

/**
 * One atomic iptables-restore script for one family: drops any previous state of this
 * attachment (a repeated ADD), then creates the chain. All ACCEPTs precede the MASQUERADE (the
 * reference appends per address, so a second subnet's ACCEPT lands after the MASQUERADE).
 */
export function iptablesSetupScript(nat: NatTable, family: 4 | 6, cidrs: string[], chain: string, comment: string): string {
  const c = restoreQuote(comment);
  const lines = removeLines(nat, chain).filter((l) => !l.startsWith(`-X `));
  if (!lines.some((l) => l.startsWith(`:${chain} `))) lines.push(`:${chain} - [0:0]`);
  for (const cidr of cidrs) {
    const p = parseCidr(cidr);
    lines.push(`-A ${chain} -d ${networkOf(p)}/${p.prefixLen} -m comment --comment ${c} -j ACCEPT`);
  }
  lines.push(`-A ${chain} ! -d ${MULTICAST[family]} -m comment --comment ${c} -j MASQUERADE`);
  for (const cidr of cidrs) {
    const p = parseCidr(cidr);
    lines.push(`-A POSTROUTING -s ${p.address}/${family === 4 ? 32 : 128} -m comment --comment ${c} -j ${chain}`);
  }
  return wrap(lines);
}

export function iptablesTeardownScript(nat: NatTable, chain: string): string {
  return wrap(removeLines(nat, chain));
}

/** GC: chains of this network (found through POSTROUTING comments) whose container is not valid. */
export function iptablesGcScript(nat: NatTable, network: string, validIDs: Set<string>): string {
  const prefix = `-m comment --comment ${restoreQuote(`name: ${goQuote(network)} id: `)}`.slice(0, -1);
  const stale = new Set<string>();
  for (const r of nat.postrouting) {
    const at = r.indexOf(prefix);
    const jump = / -j (CNI-[0-9a-f]{24})$/.exec(r);
    if (at < 0 || !jump) continue;
    const idMatch = /^\\"([^\\"]*)\\""/.exec(r.slice(at + prefix.length));
    const id = idMatch?.[1];
    if (id !== undefined && !validIDs.has(id) && jump[1] === iptChainName(network, id)) stale.add(jump[1]!);
  }
  return wrap([...stale].flatMap((chain) => removeLines(nat, chain)));
}

// ---------------- nftables ----------------

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

/** GC: rules of this network whose comment is not one of the valid attachments'. */
export function nftStaleRules(rules: NftRule[], network: string, valid: { containerID: string; ifname: string }[]): NftRule[] {
  const keep = new Set(valid.map((a) => nftComment(network, a.ifname, a.containerID)));
  return nftRulesWithPrefix(rules, nftNetworkHash(network)).filter((r) => !keep.has(r.comment ?? ""));
}
