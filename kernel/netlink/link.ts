// Links (RTM_*LINK): schemas for ifinfomsg + IFLA_* (with per-kind IFLA_INFO_DATA), typed
// results, and pure request builders. The socket side lives in rtnl.ts.
import { type Attrs, type AttrSchema, type Body, type BodySpec, type DecodedOf, decodeBody, defineAttrs, defineBody, dynamicAttr, encodeBody } from "./attrs";
import {
  AF_BRIDGE, AF_UNSPEC, ETH_P_8021AD, ETH_P_8021Q, IFF_LOWER_UP, IFF_PROMISC, IFF_RUNNING, IFF_UP,
  IFLA, IFLA_BR, IFLA_BRIDGE, IFLA_BRPORT, IFLA_INFO, IFLA_VLAN, NLM_F_CREATE, NLM_F_EXCL, RTEXT_FILTER_SKIP_STATS, RTM,
  VETH_INFO_PEER,
} from "./constants";
import { type IfInfoMsg, bridgeVlanInfo, ifinfomsg } from "./layouts";
import type { Request } from "./socket";

/** A link by kernel index or by name. */
export type LinkRef = number | string;

export const bridgeDataAttrs = defineAttrs("IFLA_BR", {
  forwardDelay: { id: IFLA_BR.FORWARD_DELAY, type: "u32" },
  stpState: { id: IFLA_BR.STP_STATE, type: "u32" },
  vlanFiltering: { id: IFLA_BR.VLAN_FILTERING, type: "u8" },
  vlanProtocol: { id: IFLA_BR.VLAN_PROTOCOL, type: "be16" },
  mcastSnooping: { id: IFLA_BR.MCAST_SNOOPING, type: "u8" },
  vlanDefaultPvid: { id: IFLA_BR.VLAN_DEFAULT_PVID, type: "u16" },
});

export const bridgePortAttrs = defineAttrs("IFLA_BRPORT", {
  state: { id: IFLA_BRPORT.STATE, type: "u8" },
  priority: { id: IFLA_BRPORT.PRIORITY, type: "u16" },
  cost: { id: IFLA_BRPORT.COST, type: "u32" },
  mode: { id: IFLA_BRPORT.MODE, type: "u8" }, // hairpin
  guard: { id: IFLA_BRPORT.GUARD, type: "u8" },
  fastLeave: { id: IFLA_BRPORT.FAST_LEAVE, type: "u8" },
  learning: { id: IFLA_BRPORT.LEARNING, type: "u8" },
  unicastFlood: { id: IFLA_BRPORT.UNICAST_FLOOD, type: "u8" },
  proxyarp: { id: IFLA_BRPORT.PROXYARP, type: "u8" },
  mcastFlood: { id: IFLA_BRPORT.MCAST_FLOOD, type: "u8" },
  bcastFlood: { id: IFLA_BRPORT.BCAST_FLOOD, type: "u8" },
  neighSuppress: { id: IFLA_BRPORT.NEIGH_SUPPRESS, type: "u8" },
  isolated: { id: IFLA_BRPORT.ISOLATED, type: "u8" },
});

export const vlanDataAttrs = defineAttrs("IFLA_VLAN", {
  id: { id: IFLA_VLAN.ID, type: "u16" },
  protocol: { id: IFLA_VLAN.PROTOCOL, type: "be16" },
});

// VETH_INFO_PEER's payload is a whole ifinfomsg + IFLA_* body; the schema is filled in below
// because it refers to linkAttrs, which refers back to this one.
const vethPeerBody: { header: typeof ifinfomsg; attrs: AttrSchema } = { header: ifinfomsg, attrs: undefined as unknown as AttrSchema };
export const vethDataAttrs = defineAttrs("VETH_INFO", {
  peer: { id: VETH_INFO_PEER, type: { body: vethPeerBody as BodySpec } },
});

const nestedIn = (table: Record<string, AttrSchema>, kind: unknown) => {
  const schema = typeof kind === "string" ? table[kind] : undefined;
  return schema && { nested: schema };
};
/** IFLA_INFO_DATA by IFLA_INFO_KIND (other kinds' data stay raw bytes). */
const infoDataByKind = { bridge: bridgeDataAttrs, veth: vethDataAttrs, vlan: vlanDataAttrs };
type InfoData = { [K in keyof typeof infoDataByKind]: DecodedOf<(typeof infoDataByKind)[K]> };
/** IFLA_INFO_SLAVE_DATA by IFLA_INFO_SLAVE_KIND. */
const slaveDataByKind = { bridge: bridgePortAttrs };
type SlaveData = { [K in keyof typeof slaveDataByKind]: DecodedOf<(typeof slaveDataByKind)[K]> };

export const linkInfoAttrs = defineAttrs("IFLA_LINKINFO", {
  kind: { id: IFLA_INFO.KIND, type: "string" },
  data: { id: IFLA_INFO.DATA, type: dynamicAttr<InfoData[keyof InfoData]>((s) => nestedIn(infoDataByKind, s.kind)) },
  slaveKind: { id: IFLA_INFO.SLAVE_KIND, type: "string" },
  slaveData: { id: IFLA_INFO.SLAVE_DATA, type: dynamicAttr<SlaveData[keyof SlaveData]>((s) => nestedIn(slaveDataByKind, s.slaveKind)) },
});
type LinkInfo = DecodedOf<typeof linkInfoAttrs>;

/** IFLA_INFO_DATA decoded for `kind`, when the link is of that kind (the kind chose its layout). */
const infoData = <K extends keyof InfoData>(info: LinkInfo, kind: K) => (info.kind === kind ? (info.data as InfoData[K] | undefined) : undefined);

export const linkAttrs = defineAttrs("IFLA", {
  address: { id: IFLA.ADDRESS, type: "mac" },
  broadcast: { id: IFLA.BROADCAST, type: "mac" },
  ifname: { id: IFLA.IFNAME, type: "string" },
  mtu: { id: IFLA.MTU, type: "u32" },
  link: { id: IFLA.LINK, type: "u32" },
  qdisc: { id: IFLA.QDISC, type: "string" },
  master: { id: IFLA.MASTER, type: "u32" },
  txqlen: { id: IFLA.TXQLEN, type: "u32" },
  operstate: { id: IFLA.OPERSTATE, type: "u8" },
  linkinfo: { id: IFLA.LINKINFO, type: { nested: linkInfoAttrs } },
  netNsPid: { id: IFLA.NET_NS_PID, type: "u32" },
  ifalias: { id: IFLA.IFALIAS, type: "string" },
  group: { id: IFLA.GROUP, type: "u32" },
  netNsFd: { id: IFLA.NET_NS_FD, type: "u32" },
  extMask: { id: IFLA.EXT_MASK, type: "u32" },
  promiscuity: { id: IFLA.PROMISCUITY, type: "u32" },
  carrier: { id: IFLA.CARRIER, type: "u8" },
  linkNetnsid: { id: IFLA.LINK_NETNSID, type: "s32" },
  minMtu: { id: IFLA.MIN_MTU, type: "u32" },
  maxMtu: { id: IFLA.MAX_MTU, type: "u32" },
  permAddress: { id: IFLA.PERM_ADDRESS, type: "mac" },
  gsoMaxSegs: { id: IFLA.GSO_MAX_SEGS, type: "u32" },
  gsoMaxSize: { id: IFLA.GSO_MAX_SIZE, type: "u32" },
  groMaxSize: { id: IFLA.GRO_MAX_SIZE, type: "u32" },
  tsoMaxSize: { id: IFLA.TSO_MAX_SIZE, type: "u32" },
  tsoMaxSegs: { id: IFLA.TSO_MAX_SEGS, type: "u32" },
  gsoIpv4MaxSize: { id: IFLA.GSO_IPV4_MAX_SIZE, type: "u32" },
});
vethPeerBody.attrs = linkAttrs;

export const linkBody = defineBody(ifinfomsg, linkAttrs);

export const OPERSTATES = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"] as const;
export type OperState = (typeof OPERSTATES)[number];

export interface BridgePortInfo {
  hairpin: boolean;
  learning: boolean;
  isolated: boolean;
  unicastFlood?: boolean;
  state?: number;
  priority?: number;
  cost?: number;
}

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND ("veth", "bridge", "dummy"...); undefined for loopback and physical devices. */
  kind?: string;
  /** ARPHRD_* (1 = ether, 772 = loopback). */
  type: number;
  mtu: number;
  mac?: string;
  flags: number;
  up: boolean;
  /** Carrier on (IFF_LOWER_UP) and running. */
  lowerUp: boolean;
  promisc: boolean;
  operstate: OperState;
  /** Index of the master device (bridge) if enslaved. */
  master?: number;
  /** IFLA_LINK: veth peer index or vlan parent index (in the namespace given by linkNetnsid when set). */
  link?: number;
  /** IFLA_LINK_NETNSID: the peer's namespace id as seen from this namespace. */
  linkNetnsid?: number;
  alias?: string;
  txqlen?: number;
  qdisc?: string;
  /** kind = "bridge" */
  vlanFiltering?: boolean;
  defaultPvid?: number;
  mcastSnooping?: boolean;
  /** kind = "vlan" */
  vlanId?: number;
  vlanProtocol?: number;
  /** Set when the link is a bridge port (IFLA_INFO_SLAVE_KIND "bridge"). */
  bridgePort?: BridgePortInfo;
  /**
   * The largest GSO packet the stack builds for this device (IFLA_GSO_MAX_SIZE, bytes; for IPv4
   * TCP since Linux 6.3 IFLA_GSO_IPV4_MAX_SIZE) and its most segments (IFLA_GSO_MAX_SEGS), and
   * what the device accepts at most (IFLA_TSO_MAX_SIZE/SEGS, 5.19+). Absent where the kernel
   * does not report them.
   */
  gso?: { maxSize?: number; maxSegs?: number; ipv4MaxSize?: number; tsoMaxSize?: number; tsoMaxSegs?: number };
}

const bool = (v: unknown) => (v === undefined ? undefined : v !== 0);

export function decodeLink(payload: Buffer): Link {
  const { header: h, attrs: a } = decodeBody(linkBody, payload);
  const info = a.linkinfo ?? {};
  const link: Link = {
    index: h.index,
    name: a.ifname ?? "",
    type: h.type,
    mtu: a.mtu ?? 0,
    flags: h.flags,
    up: (h.flags & IFF_UP) !== 0,
    lowerUp: (h.flags & IFF_LOWER_UP) !== 0 && (h.flags & IFF_RUNNING) !== 0,
    promisc: (h.flags & IFF_PROMISC) !== 0,
    operstate: OPERSTATES[a.operstate ?? 0] ?? "unknown",
  };
  const kind = info.kind;
  if (kind) link.kind = kind;
  if (a.address) link.mac = a.address;
  if (a.master) link.master = a.master;
  // Plain devices report IFLA_LINK = their own index; a peer in another namespace may share the number.
  if (a.link !== undefined && (a.link !== h.index || a.linkNetnsid !== undefined)) link.link = a.link;
  if (a.linkNetnsid !== undefined) link.linkNetnsid = a.linkNetnsid;
  if (a.ifalias !== undefined) link.alias = a.ifalias;
  if (a.txqlen !== undefined) link.txqlen = a.txqlen;
  if (a.qdisc !== undefined) link.qdisc = a.qdisc;
  if (kind === "bridge") {
    const data = infoData(info, "bridge") ?? {};
    link.vlanFiltering = bool(data.vlanFiltering) ?? false;
    if (data.vlanDefaultPvid !== undefined) link.defaultPvid = data.vlanDefaultPvid;
    if (data.mcastSnooping !== undefined) link.mcastSnooping = data.mcastSnooping !== 0;
  } else if (kind === "vlan") {
    const data = infoData(info, "vlan") ?? {};
    if (data.id !== undefined) link.vlanId = data.id;
    if (data.protocol !== undefined) link.vlanProtocol = data.protocol;
  }
  if (info.slaveKind === "bridge" && info.slaveData && !Buffer.isBuffer(info.slaveData)) link.bridgePort = decodeBridgePort(info.slaveData);
  const gso = { maxSize: a.gsoMaxSize, maxSegs: a.gsoMaxSegs, ipv4MaxSize: a.gsoIpv4MaxSize, tsoMaxSize: a.tsoMaxSize, tsoMaxSegs: a.tsoMaxSegs };
  if (Object.values(gso).some((v) => v !== undefined)) link.gso = Object.fromEntries(Object.entries(gso).filter(([, v]) => v !== undefined));
  return link;
}

export function decodeBridgePort(p: DecodedOf<typeof bridgePortAttrs>): BridgePortInfo {
  const out: BridgePortInfo = { hairpin: p.mode === 1, learning: p.learning !== 0, isolated: p.isolated === 1 };
  if (p.unicastFlood !== undefined) out.unicastFlood = p.unicastFlood !== 0;
  if (p.state !== undefined) out.state = p.state;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.cost !== undefined) out.cost = p.cost;
  return out;
}

// ---- request builders (pure) ----

const CREATE = NLM_F_CREATE | NLM_F_EXCL;

function linkRequest(type: number, flags: number, body: Body<Partial<IfInfoMsg>>, target?: string): Request {
  return { type, flags, payload: encodeBody(linkBody, body), target };
}

/** Header + ifname for a link addressed by index or name (the kernel resolves IFLA_IFNAME itself). */
function refBody(ref: LinkRef, attrs: Attrs = {}, header: Partial<IfInfoMsg> = {}): Body<Partial<IfInfoMsg>> {
  return typeof ref === "number"
    ? { header: { family: AF_UNSPEC, ...header, index: ref }, attrs }
    : { header: { family: AF_UNSPEC, ...header, index: 0 }, attrs: { ifname: ref, ...attrs } };
}

// Statistics are ~200 bytes per link that nobody here reads: ask the kernel to skip them.
export const getLinkRequest = (ref: LinkRef): Request => linkRequest(RTM.GETLINK, 0, refBody(ref, { extMask: RTEXT_FILTER_SKIP_STATS }), String(ref));
// Strict dump checking rejects a non-zero ifi_index: filter client-side instead.
export const dumpLinksRequest = (): Request => linkRequest(RTM.GETLINK, 0, { header: { family: AF_UNSPEC }, attrs: { extMask: RTEXT_FILTER_SKIP_STATS } });
export const deleteLinkRequest = (ref: LinkRef): Request => linkRequest(RTM.DELLINK, 0, refBody(ref), String(ref));

export interface CommonLinkOptions {
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** Create the link directly in this namespace: an open netns fd. */
  netnsFd?: number;
  alias?: string;
}

function commonAttrs(o: Omit<CommonLinkOptions, "name"> & { name?: string }): Attrs {
  return { ifname: o.name, mtu: o.mtu, address: o.mac, txqlen: o.txqlen, netNsFd: o.netnsFd, ifalias: o.alias };
}

export interface VethPeerOptions {
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** Open fd of the namespace the peer is created in (see Rtnl.addVeth for a path). */
  netnsFd?: number;
}
export interface VethOptions extends CommonLinkOptions {
  peer: VethPeerOptions;
}

export function addVethRequest(o: VethOptions): Request {
  const peer: Body = { header: { family: AF_UNSPEC }, attrs: commonAttrs(o.peer) };
  return linkRequest(RTM.NEWLINK, CREATE, { header: { family: AF_UNSPEC }, attrs: { ...commonAttrs(o), linkinfo: { kind: "veth", data: { peer } } } }, o.name);
}

export interface BridgeOptions extends CommonLinkOptions {
  vlanFiltering?: boolean;
  /** 0 disables the default PVID; the kernel default is 1. */
  defaultPvid?: number;
  mcastSnooping?: boolean;
  /** 802.1Q (default) or 802.1ad. */
  vlanProtocol?: "802.1Q" | "802.1ad";
}

export function addBridgeRequest(o: BridgeOptions): Request {
  const data: Attrs = {
    vlanFiltering: o.vlanFiltering === undefined ? undefined : Number(o.vlanFiltering),
    vlanDefaultPvid: o.defaultPvid,
    mcastSnooping: o.mcastSnooping === undefined ? undefined : Number(o.mcastSnooping),
    vlanProtocol: o.vlanProtocol === undefined ? undefined : o.vlanProtocol === "802.1ad" ? ETH_P_8021AD : ETH_P_8021Q,
  };
  const hasData = Object.values(data).some((v) => v !== undefined);
  return linkRequest(RTM.NEWLINK, CREATE, { header: { family: AF_UNSPEC }, attrs: { ...commonAttrs(o), linkinfo: { kind: "bridge", data: hasData ? data : undefined } } }, o.name);
}

/**
 * RTM_SETLINK of IFLA_IFALIAS for a link named `name` (the kernel ignores IFLA_IFALIAS in an
 * RTM_NEWLINK that creates a device, so an alias is always a second message; by name, so it can
 * travel in the same datagram as the creation, before the index is known).
 */
export const setAliasByNameRequest = (name: string, alias: string): Request => linkRequest(RTM.SETLINK, 0, refBody(name, { ifalias: alias }), name);

/** Links without options: dummy, ifb. */
export function addSimpleLinkRequest(kind: "dummy" | "ifb", o: CommonLinkOptions): Request {
  return linkRequest(RTM.NEWLINK, CREATE, { header: { family: AF_UNSPEC }, attrs: { ...commonAttrs(o), linkinfo: { kind } } }, o.name);
}

export interface VlanOptions extends CommonLinkOptions {
  /** Parent link index. */
  parent: number;
  id: number;
  protocol?: "802.1Q" | "802.1ad";
}

export function addVlanRequest(o: VlanOptions): Request {
  const data = { id: o.id, protocol: o.protocol === "802.1ad" ? ETH_P_8021AD : o.protocol === "802.1Q" ? ETH_P_8021Q : undefined };
  return linkRequest(RTM.NEWLINK, CREATE, { header: { family: AF_UNSPEC }, attrs: { ...commonAttrs(o), link: o.parent, linkinfo: { kind: "vlan", data } } }, o.name);
}

export interface LinkChanges {
  up?: boolean;
  promisc?: boolean;
  mtu?: number;
  mac?: string;
  /** Rename (the link must be down). */
  name?: string;
  /** Master index; 0 (or null) detaches. */
  master?: number | null;
  /** Move to the namespace of this open fd. */
  netnsFd?: number;
  alias?: string;
  txqlen?: number;
  /**
   * GSO limits (IFLA_GSO_MAX_SIZE, IFLA_GSO_MAX_SEGS, IFLA_GSO_IPV4_MAX_SIZE): the largest packet
   * the stack builds for this device and its most segments. A kernel before 6.3 ignores the IPv4
   * one (it takes IFLA_GSO_MAX_SIZE for IPv4 too); at most 64 KiB the kernel sets both from
   * IFLA_GSO_MAX_SIZE anyway.
   */
  gsoMaxSize?: number;
  gsoMaxSegs?: number;
  gsoIpv4MaxSize?: number;
}

/** RTM_SETLINK for an index (renames need the index, so callers resolve names first). */
export function setLinkRequest(index: number, c: LinkChanges, target?: string): Request {
  let flags = 0;
  let change = 0;
  if (c.up !== undefined) { change |= IFF_UP; if (c.up) flags |= IFF_UP; }
  if (c.promisc !== undefined) { change |= IFF_PROMISC; if (c.promisc) flags |= IFF_PROMISC; }
  const attrs: Attrs = {
    ifname: c.name, mtu: c.mtu, address: c.mac, txqlen: c.txqlen, ifalias: c.alias, netNsFd: c.netnsFd,
    master: c.master === null ? 0 : c.master,
    gsoMaxSize: c.gsoMaxSize, gsoMaxSegs: c.gsoMaxSegs, gsoIpv4MaxSize: c.gsoIpv4MaxSize,
  };
  return linkRequest(RTM.SETLINK, 0, { header: { family: AF_UNSPEC, index, flags, change }, attrs }, target ?? String(index));
}

// ---- bridge port options (RTM_SETLINK, family AF_BRIDGE, IFLA_PROTINFO | NLA_F_NESTED) ----

export interface BridgePortOptions {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
  unicastFlood?: boolean;
  cost?: number;
  priority?: number;
}

export const bridgeAfSpecAttrs = defineAttrs("IFLA_BRIDGE", {
  flags: { id: IFLA_BRIDGE.FLAGS, type: "u16" },
  mode: { id: IFLA_BRIDGE.MODE, type: "u16" },
  vlanInfo: { id: IFLA_BRIDGE.VLAN_INFO, type: { struct: bridgeVlanInfo }, multi: true },
});

export const bridgeLinkAttrs = defineAttrs("IFLA(AF_BRIDGE)", {
  address: { id: IFLA.ADDRESS, type: "mac" },
  ifname: { id: IFLA.IFNAME, type: "string" },
  mtu: { id: IFLA.MTU, type: "u32" },
  master: { id: IFLA.MASTER, type: "u32" },
  protinfo: { id: IFLA.PROTINFO, type: { nested: bridgePortAttrs }, nestedFlag: true },
  operstate: { id: IFLA.OPERSTATE, type: "u8" },
  // Sent without NLA_F_NESTED, like iproute2's `bridge vlan` (the kernel walks it either way).
  afSpec: { id: IFLA.AF_SPEC, type: { nested: bridgeAfSpecAttrs } },
  extMask: { id: IFLA.EXT_MASK, type: "u32" },
});
export const bridgeLinkBody = defineBody(ifinfomsg, bridgeLinkAttrs);

export function setBridgePortRequest(index: number, o: BridgePortOptions, target?: string): Request {
  const u8 = (b: boolean | undefined) => (b === undefined ? undefined : Number(b));
  const protinfo: Attrs = {
    mode: u8(o.hairpin), isolated: u8(o.isolated), learning: u8(o.learning), unicastFlood: u8(o.unicastFlood),
    cost: o.cost, priority: o.priority,
  };
  return { type: RTM.SETLINK, payload: encodeBody(bridgeLinkBody, { header: { family: AF_BRIDGE, index }, attrs: { protinfo } }), target: target ?? String(index) };
}
