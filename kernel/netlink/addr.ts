// Addresses (RTM_*ADDR): ifaddrmsg + IFA_* schema, typed results and pure request builders.
import { decodeBody, defineAttrs, defineBody, encodeBody } from "./attrs";
import { AF_INET, AF_INET6, AF_UNSPEC, IFA, IFA_F, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM, RT_SCOPE } from "./constants";
import { broadcastOf, parseCidr } from "../../core/ip";
import { ifaCacheinfo, ifaddrmsg } from "./layouts";
import type { Request } from "./socket";

export const addrAttrs = defineAttrs("IFA", {
  address: { id: IFA.ADDRESS, type: "ip" },
  local: { id: IFA.LOCAL, type: "ip" },
  label: { id: IFA.LABEL, type: "string" },
  broadcast: { id: IFA.BROADCAST, type: "ip" },
  cacheinfo: { id: IFA.CACHEINFO, type: { struct: ifaCacheinfo } },
  flags: { id: IFA.FLAGS, type: "u32" },
  rtPriority: { id: IFA.RT_PRIORITY, type: "u32" },
  proto: { id: IFA.PROTO, type: "u8" },
});
export const addrBody = defineBody(ifaddrmsg, addrAttrs);

export const familyToAf = (f: 4 | 6) => (f === 4 ? AF_INET : AF_INET6);
export const afToFamily = (af: number): 4 | 6 => (af === AF_INET ? 4 : 6);

export interface Addr {
  index: number;
  family: 4 | 6;
  /** "10.0.0.2/24" (the local address for IPv4, which differs from `address` on point-to-point links). */
  cidr: string;
  address: string;
  prefixLen: number;
  /** Point-to-point peer, when different from the local address. */
  peer?: string;
  broadcast?: string;
  label?: string;
  scope: number;
  /** IFA_F_* (the 32-bit IFA_FLAGS when present). */
  flags: number;
  permanent: boolean;
  tentative: boolean;
  dadFailed: boolean;
  /** Seconds; 0xffffffff = forever. */
  validLft?: number;
  preferredLft?: number;
}

export function decodeAddr(payload: Buffer): Addr {
  const { header: h, attrs: a } = decodeBody(addrBody, payload);
  const address = a.local ?? a.address ?? "";
  const flags = a.flags ?? h.flags;
  const out: Addr = {
    index: h.index,
    family: afToFamily(h.family),
    cidr: `${address}/${h.prefixlen}`,
    address,
    prefixLen: h.prefixlen,
    scope: h.scope,
    flags,
    permanent: (flags & IFA_F.PERMANENT) !== 0,
    tentative: (flags & IFA_F.TENTATIVE) !== 0,
    dadFailed: (flags & IFA_F.DADFAILED) !== 0,
  };
  if (a.local && a.address && a.address !== a.local) out.peer = a.address;
  if (a.broadcast) out.broadcast = a.broadcast;
  if (a.label) out.label = a.label;
  const ci = a.cacheinfo;
  if (ci) {
    out.validLft = ci.valid;
    out.preferredLft = ci.prefered;
  }
  return out;
}

export interface AddrOptions {
  /** IPv6: skip duplicate address detection so the address is usable at once. */
  nodad?: boolean;
  /** Do not add the prefix route for this address. */
  noprefixroute?: boolean;
  label?: string;
  /** RT_SCOPE_*; default universe (host for 127/8 is up to the caller). */
  scope?: number;
  /** Point-to-point peer address (IFA_ADDRESS). */
  peer?: string;
  /** IPv4 broadcast: computed from the prefix unless given; false for none. */
  broadcast?: string | false;
  /** Replace an existing address instead of failing with EEXIST. */
  replace?: boolean;
  /** Seconds (both default to forever). */
  validLft?: number;
  preferredLft?: number;
}

export function addAddrRequest(index: number, cidr: string, o: AddrOptions = {}): Request {
  const c = parseCidr(cidr);
  let flags = 0;
  if (o.nodad) flags |= IFA_F.NODAD;
  if (o.noprefixroute) flags |= IFA_F.NOPREFIXROUTE;
  const broadcast = o.broadcast === false ? undefined : (o.broadcast ?? broadcastOf(c));
  const lifetimes = o.validLft !== undefined || o.preferredLft !== undefined;
  const payload = encodeBody(addrBody, {
    header: { family: familyToAf(c.family), prefixlen: c.prefixLen, flags: flags & 0xff, scope: o.scope ?? RT_SCOPE.UNIVERSE, index },
    attrs: {
      // Like iproute2: IFA_LOCAL is our address, IFA_ADDRESS the peer (same unless point-to-point).
      local: c.address,
      address: o.peer ?? c.address,
      broadcast: c.family === 4 ? broadcast : undefined,
      label: o.label,
      // Flags above bit 7 only fit in IFA_FLAGS.
      flags: flags > 0xff ? flags : undefined,
      cacheinfo: lifetimes ? { valid: o.validLft ?? 0xffffffff, prefered: o.preferredLft ?? o.validLft ?? 0xffffffff } : undefined,
    },
  });
  return { type: RTM.NEWADDR, flags: NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL), payload, target: cidr };
}

export function deleteAddrRequest(index: number, cidr: string): Request {
  const c = parseCidr(cidr);
  const payload = encodeBody(addrBody, {
    header: { family: familyToAf(c.family), prefixlen: c.prefixLen, index },
    attrs: { local: c.address },
  });
  return { type: RTM.DELADDR, payload, target: cidr };
}

/** Dump; strict checking allows filtering by index in the header (kernel ≥ 4.20). */
export function dumpAddrsRequest(filter: { family?: 4 | 6; index?: number } = {}): Request {
  const payload = encodeBody(addrBody, {
    header: { family: filter.family ? familyToAf(filter.family) : AF_UNSPEC, index: filter.index ?? 0 },
    attrs: {},
  });
  return { type: RTM.GETADDR, payload };
}
