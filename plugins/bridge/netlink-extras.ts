// Requests the shared netlink layer (kernel/netlink) does not offer yet: bridge port VLANs and a
// neighbour "use" that makes the kernel send an ARP for an address. Built from its exported
// schemas; move into kernel/netlink once it grows these (reported to its owner).
import { defineAttrs, encodeBody, type BodySpec } from "../../kernel/netlink/attrs";
import { AF_BRIDGE, AF_INET, AF_INET6, BRIDGE_VLAN_INFO, NDA, NLM_F_CREATE, NTF, RTM } from "../../kernel/netlink/constants";
import { ndmsg, type NdMsg } from "../../kernel/netlink/layouts";
import { bridgeLinkBody } from "../../kernel/netlink/link";
import type { Rtnl } from "../../kernel/netlink/rtnl";
import type { Request } from "../../kernel/netlink/socket";

export interface PortVlans {
  /** Access / native VLAN: PVID and untagged. */
  pvid?: number;
  /** Tagged VLANs. */
  tagged?: number[];
}

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

function vlanInfos(v: PortVlans): { flags: number; vid: number }[] {
  const infos: { flags: number; vid: number }[] = [];
  if (v.pvid) infos.push({ flags: BRIDGE_VLAN_INFO.PVID | BRIDGE_VLAN_INFO.UNTAGGED, vid: v.pvid });
  for (const [lo, hi] of vlanRanges((v.tagged ?? []).filter((id) => id !== v.pvid))) {
    if (lo === hi) infos.push({ flags: 0, vid: lo });
    else infos.push({ flags: BRIDGE_VLAN_INFO.RANGE_BEGIN, vid: lo }, { flags: BRIDGE_VLAN_INFO.RANGE_END, vid: hi });
  }
  return infos;
}

export function portVlanRequest(index: number, add: boolean, infos: { flags: number; vid: number }[], target: string): Request {
  return {
    type: add ? RTM.SETLINK : RTM.DELLINK,
    payload: encodeBody(bridgeLinkBody, { header: { family: AF_BRIDGE, index }, attrs: { afSpec: { vlanInfo: infos } } }),
    target,
  };
}

export function addPortVlans(nl: Rtnl, index: number, v: PortVlans, target: string): void {
  const infos = vlanInfos(v);
  if (infos.length) nl.socket.request(portVlanRequest(index, true, infos, target));
}

export function deletePortVlan(nl: Rtnl, index: number, vid: number, target: string): void {
  nl.socket.request(portVlanRequest(index, false, [{ flags: 0, vid }], target));
}

const neighAttrs = defineAttrs("NDA", { dst: { id: NDA.DST, type: "ip" } });
const neighBody: BodySpec<NdMsg> = { header: ndmsg, attrs: neighAttrs };

/**
 * Ask the kernel to resolve `ip` on `ifindex` now (NTF_USE): it sends an ARP request at once.
 * For one of the interface's own IPv4 addresses the sender and target are the same: a
 * gratuitous ARP, so neighbours holding a stale entry for a reused address update it.
 */
export function neighUseRequest(ifindex: number, ip: string): Request {
  const family = ip.includes(":") ? AF_INET6 : AF_INET;
  return { type: RTM.NEWNEIGH, flags: NLM_F_CREATE, payload: encodeBody(neighBody, { header: { family, ifindex, state: 0, flags: NTF.USE }, attrs: { dst: ip } }), target: ip };
}

export function neighDeleteRequest(ifindex: number, ip: string): Request {
  const family = ip.includes(":") ? AF_INET6 : AF_INET;
  return { type: RTM.DELNEIGH, payload: encodeBody(neighBody, { header: { family, ifindex }, attrs: { dst: ip } }), target: ip };
}
