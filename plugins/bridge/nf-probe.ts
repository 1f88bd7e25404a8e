// Cheap, read-only looks at the node's netfilter state, so that ADD/DEL/GC exec iptables-save or
// nft only when state of ours can exist. Each look is one netlink round trip on NETLINK_NETFILTER
// (nf_tables' own GET requests, the ones `nft list` sends), or one /proc read, instead of a
// process start (5–15 ms each). Every answer other than a clear "not there" is "maybe", and the
// callers then run the tools exactly as before: a probe can only ever skip work that would have
// found nothing.
//
// iptables state lives in one of two places, depending on the iptables variant installed:
//   legacy x_tables: a namespace gets its nat table on first use; /proc/net/ip{6}_tables_names lists it
//                    (read through /proc/thread-self: the namespace of this thread, not of the process).
//   iptables-nft (Debian's default): the nftables table "ip nat" / "ip6 nat", chains by name.
// A jump to a chain cannot outlive the chain in either, so "no chain CNI-…" means no rules of ours.
import * as fs from "node:fs";
import { decodeBody, defineAttrs, defineBody, encodeBody } from "../../kernel/netlink/attrs";
import { isNetlinkError, NetlinkSocket, type Request } from "../../kernel/netlink/index";
import { defineStruct } from "../../kernel/netlink/struct";

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG = { GETTABLE: 1, GETCHAIN: 4, GETRULE: 7 } as const;
/** nfgenmsg.nfgen_family values (NFPROTO_*). */
export const NFPROTO = { inet: 1, ip: 2, bridge: 7, ip6: 10 } as const;
export type NftFamily = keyof typeof NFPROTO;
/** NFTNL_UDATA_RULE_COMMENT: the rule comment inside NFTA_RULE_USERDATA. */
const UDATA_RULE_COMMENT = 0;

interface NfGenMsg { family: number; version: number; resId: number }
const nfgenmsg = defineStruct<NfGenMsg>("nfgenmsg", [["family", "u8"], ["version", "u8"], ["resId", "be16"]]);
// NFTA_TABLE_NAME = 1; NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3; NFTA_RULE_TABLE = 1,
// NFTA_RULE_CHAIN = 2, NFTA_RULE_HANDLE = 3 (be64), NFTA_RULE_USERDATA = 7.
const tableBody = defineBody(nfgenmsg, defineAttrs("NFTA_TABLE", { name: { id: 1, type: "string" } }));
const chainBody = defineBody(nfgenmsg, defineAttrs("NFTA_CHAIN", { table: { id: 1, type: "string" }, name: { id: 3, type: "string" } }));
const ruleBody = defineBody(
  nfgenmsg,
  defineAttrs("NFTA_RULE", {
    table: { id: 1, type: "string" },
    chain: { id: 2, type: "string" },
    handle: { id: 3, type: "bytes" },
    userdata: { id: 7, type: "bytes" },
  }),
);

const nftType = (msg: number) => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** Run `fn` on a fresh NETLINK_NETFILTER socket in this namespace; undefined if none can be opened. */
function withNfSocket<T>(fn: (sock: NetlinkSocket) => T): T | undefined {
  let sock: NetlinkSocket;
  try {
    sock = NetlinkSocket.open(undefined, { timeoutMs: 2000 }, NETLINK_NETFILTER);
  } catch {
    return undefined;
  }
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}

/** Does one GET find its object? true / false, or undefined when the question could not be asked. */
function exists(req: Request): boolean | undefined {
  return withNfSocket((sock) => {
    try {
      sock.request(req);
      return true;
    } catch (e) {
      return isNetlinkError(e, "ENOENT") ? false : undefined;
    }
  });
}

export function nftTableExists(family: NftFamily, table: string): boolean | undefined {
  return exists({ type: nftType(NFT_MSG.GETTABLE), payload: encodeBody(tableBody, { header: { family: NFPROTO[family] }, attrs: { name: table } }), target: `${family} ${table}` });
}

export function nftChainExists(family: NftFamily, table: string, chain: string): boolean | undefined {
  return exists({ type: nftType(NFT_MSG.GETCHAIN), payload: encodeBody(chainBody, { header: { family: NFPROTO[family] }, attrs: { table, name: chain } }), target: `${family} ${table} ${chain}` });
}

export interface NftRuleRef {
  handle: number;
  comment?: string;
}

/** The comment stored in a rule's user data (type-length-value bytes, NUL-terminated string). */
export function udataComment(udata: Buffer): string | undefined {
  for (let off = 0; off + 2 <= udata.length; ) {
    const type = udata[off]!;
    const len = udata[off + 1]!;
    if (off + 2 + len > udata.length) return undefined;
    if (type === UDATA_RULE_COMMENT) return udata.subarray(off + 2, off + 2 + len).toString("utf8").replace(/\0+$/, "");
    off += 2 + len;
  }
  return undefined;
}

/**
 * Rules of one chain with their handles and comments, from a netlink dump (what `nft --json -a
 * list chain` prints, without starting nft). [] when the table or chain does not exist;
 * undefined when the kernel could not be asked (the caller then falls back to nft).
 */
export function nftChainRules(family: NftFamily, table: string, chain: string): NftRuleRef[] | undefined {
  return withNfSocket((sock) => {
    let msgs;
    try {
      msgs = sock.dump({ type: nftType(NFT_MSG.GETRULE), payload: encodeBody(ruleBody, { header: { family: NFPROTO[family] }, attrs: { table, chain } }), target: `${family} ${table} ${chain}` });
    } catch (e) {
      return isNetlinkError(e, "ENOENT") ? [] : undefined;
    }
    const out: NftRuleRef[] = [];
    for (const m of msgs) {
      const { header, attrs } = decodeBody(ruleBody, m.payload);
      // The kernel filters by table and chain; check anyway, a filter it ignored must not widen the match.
      if (header.family !== NFPROTO[family] || attrs.table !== table || attrs.chain !== chain) continue;
      const handle = attrs.handle;
      if (!handle || handle.length !== 8) return undefined;
      const comment = attrs.userdata ? udataComment(attrs.userdata) : undefined;
      out.push({ handle: Number(handle.readBigUInt64BE(0)), ...(comment !== undefined ? { comment } : {}) });
    }
    return out;
  });
}

/** Is `nat` in the legacy x_tables list of this namespace? undefined when the list is unreadable. */
function legacyNatExists(family: 4 | 6): boolean | undefined {
  try {
    return fs.readFileSync(family === 4 ? "/proc/thread-self/net/ip_tables_names" : "/proc/thread-self/net/ip6_tables_names", "utf8").split("\n").includes("nat");
  } catch (e) {
    // No such file: the x_tables module of this family is not even loaded, so nothing uses it.
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? false : undefined;
  }
}

/**
 * Can the nat table of `family` hold iptables state of ours (`chain` given: that chain; else any)?
 * false only when neither variant can: no legacy nat table here, and nf_tables says the table
 * (or chain) "ip[6] nat" does not exist.
 */
export function iptablesNatMayHold(family: 4 | 6, chain?: string): boolean {
  if (legacyNatExists(family) !== false) return true;
  const f: NftFamily = family === 4 ? "ip" : "ip6";
  return (chain ? nftChainExists(f, "nat", chain) : nftTableExists(f, "nat")) !== false;
}
