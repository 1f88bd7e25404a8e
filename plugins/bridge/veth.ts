// The veth pair: the container end is created directly in the container namespace under its final
// name (no create-then-move, so no window where a half-made interface sits in the wrong place),
// the host end gets a random "veth" + 8 hex name and is attached to the bridge.
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import { type BridgeVlanSpec, isNetlinkError, type Link, type Rtnl } from "../../kernel/netlink/index";
import { trySysctl } from "./bridge-dev";
import type { BridgeConfig } from "./config";

/** Contiguous runs, so a trunk of 100 VLANs is 2 attributes, not 100. */
export function vlanRanges(ids: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && id === last[1] + 1) last[1] = id;
    else if (!last || id > last[1]) out.push([id, id]);
  }
  return out;
}

/** The port's VLANs: the access VLAN as PVID + untagged, the trunk tagged in ranges. One request. */
export function portVlanSpecs(cfg: Pick<BridgeConfig, "vlan" | "vlanTrunk">): BridgeVlanSpec[] {
  const specs: BridgeVlanSpec[] = cfg.vlan ? [{ vid: cfg.vlan, pvid: true, untagged: true }] : [];
  for (const [lo, hi] of vlanRanges(cfg.vlanTrunk.filter((id) => id !== cfg.vlan))) specs.push(lo === hi ? { vid: lo } : { vid: lo, vidEnd: hi });
  return specs;
}

/** 4 random bytes from /dev/urandom, rather than node:crypto, which takes milliseconds just to load. */
function randomBytes4(): Buffer {
  const b = Buffer.alloc(4);
  try {
    const fd = fs.openSync("/dev/urandom", "r");
    try {
      if (fs.readSync(fd, b, 0, 4, null) === 4) return b;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no /dev/urandom: fall back below */
  }
  return process.getBuiltinModule("node:crypto").randomBytes(4);
}

export const randomVethName = () => `veth${randomBytes4().toString("hex")}`;

export interface VethSpec {
  containerIf: string;
  containerNs: string;
  mtu?: number;
  mac?: string;
}

/** Create the pair; retries with a new host name on a clash, as the reference does (10 tries). */
export function createVeth(host: Rtnl, spec: VethSpec, pickName = randomVethName): { hostName: string; hostLink: Link } {
  for (let i = 0; i < 10; i++) {
    const hostName = pickName();
    try {
      const hostLink = host.addVeth({
        name: hostName,
        ...(spec.mtu ? { mtu: spec.mtu } : {}),
        peer: { name: spec.containerIf, netns: spec.containerNs, ...(spec.mtu ? { mtu: spec.mtu } : {}), ...(spec.mac ? { mac: spec.mac } : {}) },
      });
      return { hostName, hostLink };
    } catch (e) {
      if (!isNetlinkError(e, "EEXIST")) throw e;
      if (host.findLink(hostName)) continue; // our random name was taken: try another
      throw new CniError(Code.Kernel, `container veth name "${spec.containerIf}" already exists in ${spec.containerNs}`, "EEXIST");
    }
  }
  throw new CniError(Code.Internal, "failed to find a unique veth name");
}

/** Enslave the host end, bring it up, and set the bridge port options and VLANs. */
export function attachPort(host: Rtnl, hostLink: Link, bridge: Link, cfg: BridgeConfig): void {
  host.setLink(hostLink.index, { master: bridge.index, up: true });
  trySysctl(`net/ipv6/conf/${hostLink.name}/accept_ra`, "0");
  if (cfg.hairpinMode || cfg.portIsolation) {
    host.setBridgePort(hostLink.index, { ...(cfg.hairpinMode ? { hairpin: true } : {}), ...(cfg.portIsolation ? { isolated: true } : {}) });
  }
  const vlans = cfg.vlan !== 0 || cfg.vlanTrunk.length > 0;
  if (vlans && !cfg.preserveDefaultVlan) {
    try {
      host.deleteBridgeVlan(hostLink.index, { vid: 1 });
    } catch (e) {
      // Bridges created with default_pvid 0 have no VLAN 1 on new ports.
      if (!isNetlinkError(e, "ENOENT") && !isNetlinkError(e, "EINVAL")) throw e;
    }
  }
  const specs = portVlanSpecs(cfg);
  if (specs.length) host.addBridgeVlan(hostLink.index, specs);
}

/** Wait until the port carries traffic (oper state up), as the reference does before returning. */
export async function waitPortUp(host: Rtnl, index: number, budgetMs = 2500): Promise<Link> {
  const started = Date.now();
  let delay = 1;
  for (;;) {
    const link = host.getLink(index);
    if (link.operstate === "up") return link;
    if (Date.now() - started > budgetMs) {
      throw new CniError(Code.Kernel, `bridge port ${link.name} is not up`, `oper state ${link.operstate} after ${budgetMs} ms`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}
