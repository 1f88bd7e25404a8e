// The bridge device in the node namespace: create it if missing, and give it the gateway
// addresses. Both are shared by every attachment of the network, so a failed ADD leaves them
// (as the reference does): removing them could break a concurrent ADD that just found them.
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import { parseCidr } from "../../core/ip";
import { isNetlinkError, type Link, type Rtnl } from "../../kernel/netlink/index";
import type { BridgeConfig } from "./config";
import { canonicalPrefix } from "./result";

/** Best-effort /proc/sys write in the current namespace (the reference ignores these errors too). */
export function trySysctl(key: string, value: string): void {
  try {
    fs.writeFileSync(`/proc/sys/${key}`, value);
  } catch {
    /* e.g. IPv6 disabled */
  }
}

export function ensureBridge(nl: Rtnl, cfg: BridgeConfig): { link: Link; created: boolean } {
  const vlanFiltering = cfg.vlan !== 0 || cfg.vlanTrunk.length > 0;
  let link = nl.findLink(cfg.bridge);
  let created = false;
  if (!link) {
    try {
      link = nl.addBridge({ name: cfg.bridge, ...(cfg.mtu ? { mtu: cfg.mtu } : {}), ...(vlanFiltering ? { vlanFiltering: true } : {}) });
      created = true;
      // We own this bridge's routes: never let router advertisements add any.
      trySysctl(`net/ipv6/conf/${cfg.bridge}/accept_ra`, "0");
    } catch (e) {
      if (vlanFiltering && isNetlinkError(e, "EOPNOTSUPP")) {
        throw new CniError(Code.Kernel, `cannot create bridge "${cfg.bridge}" with VLAN filtering ("vlan"/"vlanTrunk")`, "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): EOPNOTSUPP");
      }
      if (!isNetlinkError(e, "EEXIST")) throw e;
      link = nl.getLink(cfg.bridge); // a concurrent ADD created it first
    }
  }
  if (link.kind !== "bridge") {
    throw new CniError(Code.InvalidNetworkConfig, `invalid "bridge"`, `"${cfg.bridge}" already exists and is not a bridge (kind ${link.kind ?? "none"})`);
  }
  if ((cfg.promiscMode && !link.promisc) || !link.up) {
    nl.setLink(link.index, { ...(cfg.promiscMode ? { promisc: true } : {}), up: true });
  }
  return { link, created };
}

/**
 * Put gateway `cidr` on `dev` (bridge or VLAN gateway), as the reference's ensureAddr: an IPv4
 * bridge holds one address; an IPv6 one may hold several if their subnets do not overlap.
 * With forceAddress a conflicting address is replaced, otherwise it is an error.
 */
export function ensureGatewayAddr(nl: Rtnl, dev: Link, cidr: string, forceAddress: boolean): void {
  const want = parseCidr(cidr);
  const existing = nl.listAddrs({ link: dev.index, family: want.family }).filter((a) => a.scope === 0);
  for (const a of existing) {
    if (a.address === want.address && a.prefixLen === want.prefixLen) return;
    const overlaps = want.family === 4 || canonicalPrefix(`${want.address}/${Math.min(a.prefixLen, want.prefixLen)}`) === canonicalPrefix(`${a.address}/${Math.min(a.prefixLen, want.prefixLen)}`);
    if (!overlaps) continue;
    if (!forceAddress) {
      throw new CniError(Code.InvalidNetworkConfig, `"${dev.name}" already has an IP address different from ${cidr}`, `found ${a.cidr}; set "forceAddress" to replace it`);
    }
    nl.deleteAddr(dev.index, a.cidr);
  }
  try {
    // No DAD for the gateway: containers must reach it the moment ADD returns.
    nl.addAddr(dev.index, cidr, { nodad: want.family === 6 });
  } catch (e) {
    if (!isNetlinkError(e, "EEXIST")) throw e;
  }
  // Pin the bridge MAC: otherwise it follows the lowest port MAC and changes as ports churn.
  const now = nl.getLink(dev.index);
  if (now.mac) nl.setLink(dev.index, { mac: now.mac });
}

export function enableForwarding(family: 4 | 6): void {
  const key = family === 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
  try {
    if (fs.readFileSync(`/proc/sys/${key}`, "utf8").trim() === "1") return;
    fs.writeFileSync(`/proc/sys/${key}`, "1");
  } catch (e) {
    throw new CniError(Code.Kernel, `failed to enable forwarding (${key})`, (e as Error).message);
  }
}

/**
 * With isGateway and vlan, the gateway address lives on "<bridge>.<vlan>", one end of a veth pair
 * whose other end is a bridge port untagged in that VLAN (the reference's ensureVlanInterface).
 */
export function ensureVlanGateway(nl: Rtnl, bridge: Link, cfg: BridgeConfig, attach: (port: Link) => void, pickName: () => string): Link {
  const name = `${cfg.bridge}.${cfg.vlan}`;
  const existing = nl.findLink(name);
  if (existing) return existing;
  const portName = pickName();
  nl.addVeth({ name, ...(bridge.mtu ? { mtu: bridge.mtu } : {}), peer: { name: portName, ...(bridge.mtu ? { mtu: bridge.mtu } : {}) } });
  attach(nl.getLink(portName));
  nl.setUp(name);
  return nl.getLink(name);
}
