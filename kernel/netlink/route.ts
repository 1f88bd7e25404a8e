// Routes (RTM_*ROUTE): rtmsg + RTA_* schema (metrics nested as RTAX_*), typed results and pure
// request builders. Defaults follow iproute2: protocol boot, table main, scope link for routes
// without a gateway.
import { decodeBody, defineAttrs, defineBody, encodeBody } from "./attrs";
import {
  AF_UNSPEC, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTA, RTAX, RTM, RTN, RTNH_F_ONLINK, RTPROT, RT_SCOPE, RT_TABLE,
} from "./constants";
import { familyToAf, afToFamily } from "./addr";
import { ipFamily, networkOf, parseCidr } from "../../core/ip";
import { rtmsg } from "./layouts";
import type { Request } from "./socket";

export const metricsAttrs = defineAttrs("RTAX", {
  lock: { id: RTAX.LOCK, type: "u32" },
  mtu: { id: RTAX.MTU, type: "u32" },
  window: { id: RTAX.WINDOW, type: "u32" },
  advmss: { id: RTAX.ADVMSS, type: "u32" },
  hoplimit: { id: RTAX.HOPLIMIT, type: "u32" },
  initcwnd: { id: RTAX.INITCWND, type: "u32" },
  initrwnd: { id: RTAX.INITRWND, type: "u32" },
});

export const routeAttrs = defineAttrs("RTA", {
  dst: { id: RTA.DST, type: "ip" },
  src: { id: RTA.SRC, type: "ip" },
  iif: { id: RTA.IIF, type: "u32" },
  oif: { id: RTA.OIF, type: "u32" },
  gateway: { id: RTA.GATEWAY, type: "ip" },
  priority: { id: RTA.PRIORITY, type: "u32" },
  prefsrc: { id: RTA.PREFSRC, type: "ip" },
  metrics: { id: RTA.METRICS, type: { nested: metricsAttrs } },
  multipath: { id: RTA.MULTIPATH, type: "bytes" },
  table: { id: RTA.TABLE, type: "u32" },
  mark: { id: RTA.MARK, type: "u32" },
  pref: { id: RTA.PREF, type: "u8" },
});
export const routeBody = defineBody(rtmsg, routeAttrs);

export const ROUTE_TYPES: Record<string, number> = {
  unicast: RTN.UNICAST, local: RTN.LOCAL, broadcast: RTN.BROADCAST, anycast: RTN.ANYCAST, multicast: RTN.MULTICAST,
  blackhole: RTN.BLACKHOLE, unreachable: RTN.UNREACHABLE, prohibit: RTN.PROHIBIT, throw: RTN.THROW,
};
export type RouteType = "unicast" | "local" | "broadcast" | "anycast" | "multicast" | "blackhole" | "unreachable" | "prohibit" | "throw";
const typeName = (t: number) => (Object.keys(ROUTE_TYPES).find((k) => ROUTE_TYPES[k] === t) ?? String(t)) as RouteType;

export interface Route {
  family: 4 | 6;
  /** Network in CIDR form; the default route is "0.0.0.0/0" or "::/0". */
  dst: string;
  gw?: string;
  oif?: number;
  /** RTA_PREFSRC */
  src?: string;
  priority?: number;
  scope: number;
  table: number;
  type: RouteType;
  protocol: number;
  flags: number;
  mtu?: number;
  advmss?: number;
}

export function decodeRoute(payload: Buffer): Route {
  const { header: h, attrs: a } = decodeBody(routeBody, payload);
  const family = afToFamily(h.family);
  const dst = a.dst ?? (family === 4 ? "0.0.0.0" : "::");
  const m = a.metrics ?? {};
  const r: Route = {
    family,
    dst: `${dst}/${h.dstLen}`,
    scope: h.scope,
    table: a.table ?? h.table,
    type: typeName(h.type),
    protocol: h.protocol,
    flags: h.flags,
  };
  if (a.gateway) r.gw = a.gateway;
  if (a.oif !== undefined) r.oif = a.oif;
  if (a.prefsrc) r.src = a.prefsrc;
  if (a.priority !== undefined) r.priority = a.priority;
  if (m.mtu !== undefined) r.mtu = m.mtu;
  if (m.advmss !== undefined) r.advmss = m.advmss;
  return r;
}

export interface RouteSpec {
  /** CIDR; "0.0.0.0/0" / "::/0" for default. Host bits are cleared (the kernel would refuse them). */
  dst: string;
  gw?: string;
  oif?: number;
  /** Preferred source address (RTA_PREFSRC). */
  src?: string;
  priority?: number;
  /** Default: link when there is no gateway, else universe (host for type local). */
  scope?: number;
  /** Default main (254). */
  table?: number;
  type?: RouteType;
  /** Default RTPROT_BOOT like iproute2. */
  protocol?: number;
  mtu?: number;
  advmss?: number;
  /** Gateway is directly reachable on oif even without a matching prefix. */
  onlink?: boolean;
}

function routeBodyFor(r: RouteSpec, forDelete: boolean) {
  const c = parseCidr(r.dst);
  if (r.gw && ipFamily(r.gw) !== c.family) throw new TypeError(`route ${r.dst}: gateway ${r.gw} is a different family`);
  const table = r.table ?? RT_TABLE.MAIN;
  const type = ROUTE_TYPES[r.type ?? "unicast"];
  const metrics = r.mtu !== undefined || r.advmss !== undefined ? { mtu: r.mtu, advmss: r.advmss } : undefined;
  const defaultScope = type === RTN.LOCAL ? RT_SCOPE.HOST : r.gw || type !== RTN.UNICAST ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK;
  return encodeBody(routeBody, {
    header: {
      family: familyToAf(c.family),
      dstLen: c.prefixLen,
      // tables above 255 only fit in RTA_TABLE
      table: table < 256 ? table : RT_TABLE.UNSPEC,
      // For delete, NOWHERE + type 0 mean "any" to the kernel, so a route is found by its key.
      protocol: forDelete ? (r.protocol ?? 0) : (r.protocol ?? RTPROT.BOOT),
      scope: forDelete ? (r.scope ?? RT_SCOPE.NOWHERE) : (r.scope ?? defaultScope),
      type: forDelete && !r.type ? 0 : type,
      flags: r.onlink ? RTNH_F_ONLINK : 0,
    },
    attrs: {
      dst: c.prefixLen > 0 ? networkOf(c) : undefined,
      gateway: r.gw,
      oif: r.oif,
      prefsrc: r.src,
      priority: r.priority,
      table,
      metrics: forDelete ? undefined : metrics,
    },
  });
}

export function addRouteRequest(r: RouteSpec, replace = false): Request {
  return { type: RTM.NEWROUTE, flags: NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), payload: routeBodyFor(r, false), target: r.dst };
}

export function deleteRouteRequest(r: RouteSpec): Request {
  return { type: RTM.DELROUTE, payload: routeBodyFor(r, true), target: r.dst };
}

export function dumpRoutesRequest(family?: 4 | 6): Request {
  return { type: RTM.GETROUTE, payload: encodeBody(routeBody, { header: { family: family ? familyToAf(family) : AF_UNSPEC }, attrs: {} }) };
}
