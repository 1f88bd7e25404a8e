// Neighbours (RTM_*NEIGH): ndmsg + NDA_* schema, typed results and pure request builders.
import { decodeBody, defineAttrs, defineBody, encodeBody } from "./attrs";
import { AF_UNSPEC, NDA, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NTF, NUD, RTM } from "./constants";
import { afToFamily, familyToAf } from "./addr";
import { ipFamily } from "../../core/ip";
import { ndmsg } from "./layouts";
import type { Request } from "./socket";

export const neighAttrs = defineAttrs("NDA", {
  dst: { id: NDA.DST, type: "ip" },
  lladdr: { id: NDA.LLADDR, type: "mac" },
  probes: { id: NDA.PROBES, type: "u32" },
  vlan: { id: NDA.VLAN, type: "u16" },
  ifindex: { id: NDA.IFINDEX, type: "u32" },
  master: { id: NDA.MASTER, type: "u32" },
});
export const neighBody = defineBody(ndmsg, neighAttrs);

export type NeighState = "incomplete" | "reachable" | "stale" | "delay" | "probe" | "failed" | "noarp" | "permanent" | "none";
const STATES: [NeighState, number][] = Object.entries(NUD).map(([k, v]) => [k.toLowerCase() as NeighState, v]);

export interface Neigh {
  index: number;
  family: 4 | 6;
  ip: string;
  mac?: string;
  /** NUD_* bits */
  state: number;
  /** Names of the set NUD_* bits ("permanent", "reachable"...). */
  states: NeighState[];
  flags: number;
  router: boolean;
}

export function decodeNeigh(payload: Buffer): Neigh {
  const { header: h, attrs: a } = decodeBody(neighBody, payload);
  const n: Neigh = {
    index: h.ifindex,
    family: afToFamily(h.family),
    ip: a.dst ?? "",
    state: h.state,
    states: h.state === 0 ? ["none"] : STATES.filter(([, v]) => v !== 0 && (h.state & v) !== 0).map(([k]) => k),
    flags: h.flags,
    router: (h.flags & NTF.ROUTER) !== 0,
  };
  if (a.lladdr) n.mac = a.lladdr;
  return n;
}

export interface NeighSpec {
  ip: string;
  mac?: string;
  /** Default permanent. */
  state?: Exclude<NeighState, "none">;
  /** Replace an existing entry (default true, like `ip neigh replace`). */
  replace?: boolean;
  router?: boolean;
}

export function addNeighRequest(index: number, n: NeighSpec): Request {
  const state = NUD[(n.state ?? "permanent").toUpperCase() as keyof typeof NUD];
  const payload = encodeBody(neighBody, {
    header: { family: familyToAf(ipFamily(n.ip)), ifindex: index, state, flags: n.router ? NTF.ROUTER : 0 },
    attrs: { dst: n.ip, lladdr: n.mac },
  });
  return { type: RTM.NEWNEIGH, flags: NLM_F_CREATE | (n.replace === false ? NLM_F_EXCL : NLM_F_REPLACE), payload, target: n.ip };
}

/**
 * NTF_USE: ask the kernel to resolve `ip` now (it sends an ARP request / neighbour solicitation).
 * For one of the interface's own IPv4 addresses that is a gratuitous ARP.
 */
export function useNeighRequest(index: number, ip: string): Request {
  const payload = encodeBody(neighBody, { header: { family: familyToAf(ipFamily(ip)), ifindex: index, state: NUD.NONE, flags: NTF.USE }, attrs: { dst: ip } });
  return { type: RTM.NEWNEIGH, flags: NLM_F_CREATE, payload, target: ip };
}

export function deleteNeighRequest(index: number, ip: string): Request {
  const payload = encodeBody(neighBody, { header: { family: familyToAf(ipFamily(ip)), ifindex: index }, attrs: { dst: ip } });
  return { type: RTM.DELNEIGH, payload, target: ip };
}

/** Strict dump checking wants the device filter as NDA_IFINDEX, not in the header. */
export function dumpNeighsRequest(filter: { family?: 4 | 6; index?: number } = {}): Request {
  const payload = encodeBody(neighBody, {
    header: { family: filter.family ? familyToAf(filter.family) : AF_UNSPEC },
    attrs: { ifindex: filter.index },
  });
  return { type: RTM.GETNEIGH, payload };
}
