// Bridge VLANs: RTM_SETLINK/RTM_DELLINK with family AF_BRIDGE carrying IFLA_AF_SPEC →
// IFLA_BRIDGE_VLAN_INFO entries, and the per-port VLAN dump (RTM_GETLINK AF_BRIDGE with
// IFLA_EXT_MASK = RTEXT_FILTER_BRVLAN). Needs a kernel with CONFIG_BRIDGE_VLAN_FILTERING.
import { type Attrs, decodeBody, encodeBody } from "./attrs";
import { AF_BRIDGE, BRIDGE_FLAGS_MASTER, BRIDGE_FLAGS_SELF, BRIDGE_VLAN_INFO, RTEXT_FILTER_BRVLAN, RTM } from "./constants";
import type { BridgeVlanInfo } from "./layouts";
import { type BridgePortInfo, bridgeLinkBody, decodeBridgePort } from "./link";
import type { Request } from "./socket";

export interface BridgeVlanSpec {
  vid: number;
  /** Last VID of a range vid..vidEnd. */
  vidEnd?: number;
  pvid?: boolean;
  untagged?: boolean;
  /** Program the device itself (the bridge's own "self" VLANs, or a port's hardware) rather than the bridge master. */
  self?: boolean;
}

export function vlanInfoEntries(v: BridgeVlanSpec): BridgeVlanInfo[] {
  let flags = 0;
  if (v.pvid) flags |= BRIDGE_VLAN_INFO.PVID;
  if (v.untagged) flags |= BRIDGE_VLAN_INFO.UNTAGGED;
  const valid = (x: number) => Number.isInteger(x) && x >= 1 && x <= 4094;
  if (!valid(v.vid) || (v.vidEnd !== undefined && (!valid(v.vidEnd) || v.vidEnd < v.vid))) throw new RangeError(`invalid VLAN range ${v.vid}-${v.vidEnd ?? v.vid}`);
  if (v.vidEnd === undefined || v.vidEnd === v.vid) return [{ flags, vid: v.vid }];
  return [
    { flags: flags | BRIDGE_VLAN_INFO.RANGE_BEGIN, vid: v.vid },
    { flags: flags | BRIDGE_VLAN_INFO.RANGE_END, vid: v.vidEnd },
  ];
}

/** One request for one or several VLANs/ranges (all for the same target: master or self). */
export function bridgeVlanRequest(op: "add" | "delete", index: number, spec: BridgeVlanSpec | BridgeVlanSpec[], target?: string): Request {
  const specs = Array.isArray(spec) ? spec : [spec];
  if (specs.length === 0) throw new RangeError("no VLANs given");
  const self = specs[0].self ?? false;
  if (specs.some((v) => (v.self ?? false) !== self)) throw new TypeError("self and master VLANs need separate requests");
  const afSpec: Attrs = { flags: self ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER, vlanInfo: specs.flatMap(vlanInfoEntries) };
  const vids = specs.map((v) => `${v.vid}${v.vidEnd && v.vidEnd !== v.vid ? `-${v.vidEnd}` : ""}`).join(",");
  return {
    type: op === "add" ? RTM.SETLINK : RTM.DELLINK,
    payload: encodeBody(bridgeLinkBody, { header: { family: AF_BRIDGE, index }, attrs: { afSpec } }),
    target: `${target ?? index} vid ${vids}`,
  };
}

export const dumpBridgeLinksRequest = (): Request => ({
  type: RTM.GETLINK,
  payload: encodeBody(bridgeLinkBody, { header: { family: AF_BRIDGE }, attrs: { extMask: RTEXT_FILTER_BRVLAN } }),
});

export interface BridgeVlan {
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

/** One entry of the AF_BRIDGE link dump: a port (or the bridge itself) with its VLANs and port flags. */
export interface BridgeLinkInfo {
  index: number;
  name: string;
  master?: number;
  vlans: BridgeVlan[];
  port?: BridgePortInfo;
}

export function decodeBridgeLink(payload: Buffer): BridgeLinkInfo {
  const { header: h, attrs: a } = decodeBody(bridgeLinkBody, payload);
  const spec = a.afSpec ?? {};
  const vlans: BridgeVlan[] = [];
  let rangeStart: BridgeVlanInfo | undefined;
  for (const v of spec.vlanInfo ?? []) {
    // Compressed dumps send ranges; expand them so callers see one entry per VID.
    if (v.flags & BRIDGE_VLAN_INFO.RANGE_BEGIN) { rangeStart = v; continue; }
    const from = v.flags & BRIDGE_VLAN_INFO.RANGE_END && rangeStart ? rangeStart.vid : v.vid;
    for (let vid = from; vid <= v.vid; vid++) {
      vlans.push({ vid, pvid: (v.flags & BRIDGE_VLAN_INFO.PVID) !== 0, untagged: (v.flags & BRIDGE_VLAN_INFO.UNTAGGED) !== 0 });
    }
    rangeStart = undefined;
  }
  const out: BridgeLinkInfo = { index: h.index, name: a.ifname ?? "", vlans };
  if (a.master) out.master = a.master;
  if (a.protinfo) out.port = decodeBridgePort(a.protinfo);
  return out;
}
