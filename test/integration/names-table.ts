// The table of names for test/integration/names.test.ts, and the helper that file needs beyond
// demo/chain.ts: a snapshot of everything the plugins keep in a node namespace, compared as
// multisets of lines.
//
// The names are the ones the project decided a runtime may send (issue #11):
//   container ID  ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$, any length (tested up to 2,048 characters);
//   network name  the same characters, any length for bridge and ebpf-bandwidth, at most 255 bytes
//                 for host-local (<dataDir>/<name>, NAME_MAX), code 7 above that (DEL succeeds);
//   ifname        1-15 bytes, not "." / "..", no "/", ":" or whitespace (UTF-8 allowed).
// Each set holds attachments whose names nearly collide, so that one is removed while the others
// stay and must keep every piece of their state.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pinsUnder } from "./ebpf-bandwidth-helpers";

// ---------------------------------------------------------------- names

export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/** The project's ifname rule (core/env.ts validateIfName), restated so the table checks itself. */
export function validIfname(name: string): boolean {
  const bytes = Buffer.byteLength(name);
  return bytes >= 1 && bytes <= 15 && name !== "." && name !== ".." && !/[\/:\s]/.test(name);
}

/** A name of exactly `n` characters: `stem` repeated, then `tail` (the part that differs). */
export const sized = (n: number, stem: string, tail = "") => (stem.repeat(Math.ceil(n / stem.length)).slice(0, n - tail.length) + tail);

/** 2,048-character container IDs that differ only in their last character. */
export const ID2048A = sized(2048, "c0ffee.k8s_pod-", "a");
export const ID2048B = sized(2048, "c0ffee.k8s_pod-", "b");
/** 256-character IDs that agree on their first 200 characters and differ in the 201st. */
export const ID256A = sized(200, "pod.x_y-z") + "A" + "z".repeat(55);
export const ID256B = sized(200, "pod.x_y-z") + "B" + "z".repeat(55);
/** 300 characters: pushes the nft masquerade comment (128 bytes) past a UTF-8 ifname. */
export const ID300 = sized(300, "long-id.");

/** Network names at host-local's limits, and beyond it (bridge and ebpf-bandwidth only). */
export const NET243A = sized(243, "net.work-", "a");
export const NET243B = sized(243, "net.work-", "b");
export const NET244 = sized(244, "net_244.");
export const NET255 = sized(255, "net-255.");
export const NET256 = sized(256, "net-256.");
export const NET2048A = sized(2048, "wide.net-", "1");
export const NET2048B = sized(2048, "wide.net-", "2");

export type MasqBackend = "iptables" | "nftables";

export interface NetDef {
  name: string;
  /** Bridge device in the node (several networks never share one: an IPv4 bridge holds one gateway). */
  bridge: string;
  /** IPv4 /24; attachments get addresses from it (host-local, or static .10, .11, … in table order). */
  subnet: string;
  /** ipMasq with this backend; undefined = no masquerading. */
  masq?: MasqBackend;
}

export interface AttDef {
  id: string;
  ifname: string;
  /** Network name (one of the group's). */
  net: string;
  /** Attachments with the same pod share one container namespace (one pod, several interfaces). */
  pod?: string;
}

export interface NameSet {
  title: string;
  members: AttDef[];
}

export type ChainKind =
  /** our bridge + our host-local (in-process) + our ebpf-bandwidth, spec 1.1.0 */
  | "ours"
  /** our bridge with the reference static IPAM (host-local cannot take these names) + ebpf-bandwidth; 1.0.0, GC/STATUS without the IPAM */
  | "ours-static"
  /** the reference bridge + reference host-local + our ebpf-bandwidth; 1.0.0, GC/STATUS of ebpf-bandwidth alone */
  | "reference";

export interface NameGroup {
  title: string;
  chain: ChainKind;
  /** macspoofchk on our bridge (never on the reference: its collisions are its own). */
  macspoofchk: boolean;
  networks: NetDef[];
  sets: NameSet[];
}

const att = (id: string, ifname: string, net: string, pod?: string): AttDef => ({ id, ifname, net, ...(pod ? { pod } : {}) });

/** Container IDs and ifnames on one network (the shortest network name, "n"). */
const idsAndIfnames = (net: string): NameSet[] => [
  { title: 'shortest: ID "a" + ifname "e", ID "0" + ifname "0"', members: [att("a", "e", net), att("0", "0", net)] },
  { title: '("pod-x", "eth0") vs ("pod", "x-eth0")', members: [att("pod-x", "eth0", net), att("pod", "x-eth0", net)] },
  { title: '"a.b" vs "a_b" vs "a-b"', members: [att("a.b", "eth0", net), att("a_b", "eth0", net), att("a-b", "eth0", net)] },
  { title: 'IDs differing only in case ("Pod-A" vs "pod-a")', members: [att("Pod-A", "eth0", net), att("pod-a", "eth0", net)] },
  { title: "2,048-character IDs differing only in the last character", members: [att(ID2048A, "eth0", net), att(ID2048B, "eth0", net)] },
  { title: "256-character IDs differing only in the 201st character", members: [att(ID256A, "eth0", net), att(ID256B, "eth0", net)] },
  { title: 'one pod, two interfaces ("multi", eth0 / eth1)', members: [att("multi", "eth0", net, "multi"), att("multi", "eth1", net, "multi")] },
  {
    title: 'one pod, ifnames "e.0" / "e-0" / "e_0" (ID ending in a dot)',
    members: [att("dots.", "e.0", net, "dots"), att("dots.", "e-0", net, "dots"), att("dots.", "e_0", net, "dots")],
  },
  {
    title: 'one pod, longest ifnames: "eth0123456789ab" (15 bytes), "..." and UTF-8 "ééééééé0" (15 bytes)',
    members: [att("longif", "eth0123456789ab", net, "longif"), att("longif", "...", net, "longif"), att("longif", "ééééééé0", net, "longif")],
  },
];

export const GROUPS: NameGroup[] = [
  {
    title: "container IDs and ifnames (our chain, iptables masquerade, macspoofchk)",
    chain: "ours",
    macspoofchk: true,
    networks: [{ name: "n", bridge: "nbr0", subnet: "10.61.0.0/24", masq: "iptables" }],
    sets: idsAndIfnames("n"),
  },
  {
    title: "network names (our chain, nftables and iptables masquerade, macspoofchk)",
    chain: "ours",
    macspoofchk: true,
    networks: [
      { name: "net.1", bridge: "nb.1", subnet: "10.62.1.0/24", masq: "nftables" },
      { name: "net-1", bridge: "nb-1", subnet: "10.62.2.0/24", masq: "nftables" },
      { name: "net_1", bridge: "nb_1", subnet: "10.62.3.0/24", masq: "nftables" },
      { name: "Net.1", bridge: "nB.1", subnet: "10.62.4.0/24", masq: "nftables" },
      { name: "a", bridge: "nba", subnet: "10.62.5.0/24", masq: "iptables" },
      { name: "ab", bridge: "nbab", subnet: "10.62.6.0/24", masq: "iptables" },
    ],
    sets: [
      {
        title: 'same ID and ifname on networks "net.1", "net-1", "net_1", "Net.1"',
        members: [att("same", "eth0", "net.1"), att("same", "eth0", "net-1"), att("same", "eth0", "net_1"), att("same", "eth0", "Net.1")],
      },
      { title: 'network+ID concatenations equal: ("ab", "c") vs ("a", "bc")', members: [att("c", "eth0", "ab"), att("bc", "eth0", "a")] },
      { title: "300-character ID with a UTF-8 ifname (nft comment cut at 128 bytes)", members: [att(ID300, "ethé", "net.1"), att(ID300, "ethè", "net.1")] },
    ],
  },
  {
    title: "243-character network names differing in the last character (our chain, iptables masquerade)",
    chain: "ours",
    macspoofchk: false,
    networks: [
      { name: NET243A, bridge: "lbr243a", subnet: "10.64.1.0/24", masq: "iptables" },
      { name: NET243B, bridge: "lbr243b", subnet: "10.64.2.0/24", masq: "iptables" },
    ],
    sets: [
      { title: "same short ID on both", members: [att("same", "eth0", NET243A), att("same", "eth0", NET243B)] },
      { title: "2,048-character IDs on both", members: [att(ID2048A, "eth0", NET243A), att(ID2048A, "eth0", NET243B)] },
    ],
  },
  {
    title: "a 244-character network name (our chain, host-local's first length past 243)",
    chain: "ours",
    macspoofchk: false,
    networks: [{ name: NET244, bridge: "lbr244", subnet: "10.64.3.0/24", masq: "iptables" }],
    sets: [{ title: "two containers", members: [att("x", "eth0", NET244), att(ID2048A, "eth0", NET244)] }],
  },
  {
    title: "a 255-character network name, the longest host-local takes (our chain)",
    chain: "ours",
    macspoofchk: false,
    networks: [{ name: NET255, bridge: "lbr255", subnet: "10.64.4.0/24", masq: "nftables" }],
    sets: [{ title: "two containers", members: [att("x", "eth0", NET255), att(ID2048A, "eth.0", NET255)] }],
  },
  {
    title: "2,048-character network names differing in the last character (our bridge + static IPAM + ebpf-bandwidth)",
    chain: "ours-static",
    macspoofchk: true,
    networks: [
      { name: NET2048A, bridge: "wbr1", subnet: "10.65.1.0/24", masq: "iptables" },
      { name: NET2048B, bridge: "wbr2", subnet: "10.65.2.0/24", masq: "nftables" },
    ],
    sets: [
      { title: "same ID on both", members: [att("same", "eth0", NET2048A), att("same", "eth0", NET2048B)] },
      { title: "2,048-character IDs differing in the last character", members: [att(ID2048A, "eth0", NET2048A), att(ID2048B, "eth0", NET2048A)] },
    ],
  },
  {
    title: "ebpf-bandwidth after the reference bridge + host-local",
    chain: "reference",
    macspoofchk: false,
    networks: [
      { name: "net.2", bridge: "rb.2", subnet: "10.66.1.0/24" },
      { name: "net-2", bridge: "rb-2", subnet: "10.66.2.0/24" },
    ],
    sets: [
      { title: '("pod-x", "eth0") vs ("pod", "x-eth0")', members: [att("pod-x", "eth0", "net.2"), att("pod", "x-eth0", "net.2")] },
      { title: '"a.b" vs "a_b" vs "a-b"', members: [att("a.b", "eth0", "net.2"), att("a_b", "eth0", "net.2"), att("a-b", "eth0", "net.2")] },
      { title: '"net.2" vs "net-2", same ID and ifname', members: [att("same", "eth0", "net.2"), att("same", "eth0", "net-2")] },
      { title: "2,048-character IDs differing only in the last character", members: [att(ID2048A, "eth.0", "net.2"), att(ID2048B, "eth.0", "net.2")] },
    ],
  },
];

/** host-local alone: every verb per network name (the limit is 255 bytes), and the ID/ifname sets on "n". */
export const HOST_LOCAL_NETWORKS = ["n", "net.1", "net-1", "net_1", "Net.1", "a..b", "0", NET243A, NET243B, NET244, sized(254, "hl.254-"), NET255];
export const HOST_LOCAL_SETS = idsAndIfnames("n");

// GC and STATUS over a conflist: demo/chain.ts (gcNetworkList, statusNetworkList).
export { gcNetworkList, statusNetworkList } from "../../demo/chain";

// ---------------------------------------------------------------- snapshots

/**
 * Everything the three plugins keep for attachments, as lines per category:
 *   links  node links: "name kind master"
 *   tc     `tc qdisc show` and `tc class show dev D` for every node device ("D: ..."), counters dropped
 *   nat    `iptables-save -t nat`, `ip6tables-save -t nat`, nft table inet cni_plugins_masquerade
 *   spoof  nft table bridge nat (macspoofchk)
 *   pins   every entry under the pin root (directories too)
 *   ipam   host-local reservations "<network>/<ip> = <content>" (not lock / last_reserved_ip.*)
 */
export type Category = "links" | "tc" | "nat" | "spoof" | "pins" | "ipam";
export const CATEGORIES: Category[] = ["links", "tc", "nat", "spoof", "pins", "ipam"];
export type Snapshot = Record<Category, string[]>;

const SNAPSHOT_SCRIPT = `
echo @@links; ip -j -d link show
echo @@tc; tc qdisc show
for d in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do tc class show dev "$d" | sed "s|^|$d: |"; done
echo @@nat; iptables-save -t nat; ip6tables-save -t nat; nft list table inet cni_plugins_masquerade 2>/dev/null
echo @@spoof; nft list table bridge nat 2>/dev/null
echo @@end
`;

export function snapshot(nodeNetns: string, pinRoot: string, dataDir: string): Snapshot {
  const r = spawnSync("nsenter", [`--net=/var/run/netns/${nodeNetns}`, "--", "sh", "-c", SNAPSHOT_SCRIPT], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0 || !r.stdout.includes("@@end")) throw new Error(`snapshot of ${nodeNetns} failed: ${r.stderr}`);
  const section = (name: string, next: string) => r.stdout.slice(r.stdout.indexOf(`@@${name}\n`) + name.length + 3, r.stdout.indexOf(`@@${next}\n`));
  const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");
  const links = (JSON.parse(section("links", "tc")) as { ifname: string; master?: string; linkinfo?: { info_kind?: string } }[]).map(
    (l) => `${l.ifname} ${l.linkinfo?.info_kind ?? "-"} master=${l.master ?? "-"}`,
  );
  const tc = lines(section("tc", "nat")).map((l) => l.replace(/direct_packets_stat \d+/, "direct_packets_stat N").replace(/refcnt \d+/, "refcnt N"));
  const nat = lines(section("nat", "spoof"))
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/, "[0:0]").replace(/packets \d+ bytes \d+/g, "packets N bytes N"));
  const spoof = lines(section("spoof", "end")).map((l) => l.replace(/packets \d+ bytes \d+/g, "packets N bytes N"));
  return { links, tc, nat, spoof, pins: pinsUnder(pinRoot), ipam: reservations(dataDir) };
}

/** host-local reservations under dataDir: "<network>/<file> = <content as JSON>". */
export function reservations(dataDir: string): string[] {
  if (!fs.existsSync(dataDir)) return [];
  const out: string[] = [];
  for (const net of fs.readdirSync(dataDir)) {
    const dir = path.join(dataDir, net);
    if (net === ".tscni-host-local" || !fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) {
      if (f === "lock" || f.startsWith("last_reserved_ip.")) continue;
      out.push(`${net}/${f} = ${JSON.stringify(fs.readFileSync(path.join(dir, f), "utf8"))}`);
    }
  }
  return out.sort();
}

/** Multiset difference a − b (each line of b removes one equal line of a). */
export function minus(a: string[], b: string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of b) counts.set(l, (counts.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of a) {
    const n = counts.get(l) ?? 0;
    if (n > 0) counts.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

export const sortedLines = (a: string[]) => [...a].sort();

/** Short label for messages: long names are cut, with their length. */
export function label(a: AttDef): string {
  const cut = (s: string) => (s.length > 24 ? `${s.slice(0, 12)}…${s.slice(-8)} (${s.length})` : s);
  return `(${cut(a.id)}, ${a.ifname}, net ${cut(a.net)})`;
}
