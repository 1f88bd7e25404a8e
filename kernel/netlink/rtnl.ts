// Rtnl: the typed rtnetlink client. Each method builds a request with a pure encoder
// (link.ts, addr.ts, route.ts, ...), runs it on one blocking socket, and decodes the replies.
import * as fs from "node:fs";
import { Errno } from "../errno";
import { type Addr, type AddrOptions, addAddrRequest, decodeAddr, deleteAddrRequest, dumpAddrsRequest } from "./addr";
import { RT_TABLE } from "./constants";
import { NetlinkError, isNetlinkError } from "./errors";
import {
  type BridgeOptions, type BridgePortOptions, type CommonLinkOptions, type Link, type LinkChanges, type LinkRef,
  type VethOptions, type VlanOptions, addBridgeRequest, addSimpleLinkRequest, addVethRequest, addVlanRequest,
  decodeLink, deleteLinkRequest, dumpLinksRequest, getLinkRequest, setAliasByNameRequest, setBridgePortRequest, setLinkRequest,
} from "./link";
import { type Route, type RouteSpec, addRouteRequest, decodeRoute, deleteRouteRequest, dumpRoutesRequest } from "./route";
import { type BridgeLinkInfo, type BridgeVlanSpec, bridgeVlanRequest, decodeBridgeLink, dumpBridgeLinksRequest } from "./bridge-vlan";
import { type Neigh, type NeighSpec, addNeighRequest, decodeNeigh, deleteNeighRequest, dumpNeighsRequest, useNeighRequest } from "./neigh";
import { NetlinkSocket, type Request, type SocketOptions } from "./socket";
import {
  type BpfFilterOptions, type HtbClassOptions, type Qdisc, type QdiscOptions, type QdiscPlacement, type TcClass, type TcFilter,
  bpfFilterRequest, decodeClass, decodeFilter, decodeQdisc, deleteClassRequest, deleteFilterRequest, deleteQdiscRequest,
  dumpClassesRequest, dumpFiltersRequest, dumpQdiscsRequest, getClassRequest, getRootQdiscRequest, htbClassRequest, qdiscRequest,
} from "./tc";
import { parseTcHandle } from "./tc-handle";
import { openNetns } from "../netns";

/** A namespace given as a path (/var/run/netns/x, /proc/<pid>/ns/net) or an already open fd. */
export type NsRef = string | number;

/** Veth options where each end may name its namespace by path instead of fd. */
export interface AddVethOptions extends Omit<VethOptions, "peer" | "netnsFd"> {
  netns?: NsRef;
  peer: Omit<VethOptions["peer"], "netnsFd"> & { netns?: NsRef };
}

function withNsFd<T>(ns: NsRef | undefined, fn: (fd: number | undefined) => T): T {
  if (ns === undefined || typeof ns === "number") return fn(ns);
  const fd = openNetns(ns); // through the daemon's alias for CNI_NETNS, when one is set
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** One change for Rtnl.replaceTc: an HTB class, or a qdisc. */
export type TcChange = { class: HtbClassOptions } | { qdisc: QdiscOptions & QdiscPlacement };

export class Rtnl {
  readonly socket: NetlinkSocket;

  /** Usually via Rtnl.open(); a NetlinkSocket over a fake Transport makes Rtnl testable without root. */
  constructor(socket: NetlinkSocket) {
    this.socket = socket;
  }

  /** Open a rtnetlink socket in `nsPath` (default: the caller's namespace); all calls then act there. */
  static open(nsPath?: string, opts?: SocketOptions): Rtnl {
    return new Rtnl(NetlinkSocket.open(nsPath, opts));
  }

  /** Open, run `fn`, close: for one-off work in a namespace. */
  static with<T>(nsPath: string | undefined, fn: (nl: Rtnl) => T): T {
    const nl = Rtnl.open(nsPath);
    try {
      return fn(nl);
    } finally {
      nl.close();
    }
  }

  close(): void {
    this.socket.close();
  }

  // ---------------- links ----------------

  listLinks(): Link[] {
    return this.socket.dump(dumpLinksRequest()).map((m) => decodeLink(m.payload));
  }

  /** Throws NetlinkError ENODEV when there is no such link. */
  getLink(ref: LinkRef): Link {
    const [reply] = this.socket.request(getLinkRequest(ref));
    return decodeLink(reply.payload);
  }

  /** Like getLink but undefined when it does not exist. */
  findLink(ref: LinkRef): Link | undefined {
    try {
      return this.getLink(ref);
    } catch (e) {
      if (isNetlinkError(e, "ENODEV")) return undefined;
      throw e;
    }
  }

  /** The index for a name (one lookup) or the number itself. */
  linkIndex(ref: LinkRef): number {
    return typeof ref === "number" ? ref : this.getLink(ref).index;
  }

  /** Create a veth pair; the peer may be created directly in another namespace. Returns the local end. */
  addVeth(o: AddVethOptions): Link {
    const { netns, peer, ...rest } = o;
    const { netns: peerNs, ...peerRest } = peer;
    withNsFd(netns, (fd) =>
      withNsFd(peerNs, (peerFd) => this.socket.request(addVethRequest({ ...rest, netnsFd: fd, peer: { ...peerRest, netnsFd: peerFd } }))),
    );
    if (netns === undefined) return this.getLink(o.name);
    // The local end went to another namespace: look it up there (an fd is reachable as a path).
    const other = NetlinkSocket.open(typeof netns === "number" ? `/proc/self/fd/${netns}` : netns);
    try {
      return new Rtnl(other).getLink(o.name);
    } finally {
      other.close();
    }
  }

  addBridge(o: BridgeOptions): Link {
    this.socket.request(addBridgeRequest(o));
    return this.getLink(o.name);
  }

  addDummy(o: CommonLinkOptions): Link {
    return this.addSimpleLink("dummy", o);
  }

  /** With `alias`, the device never exists without it, even if this process is killed (see addSimpleLink). */
  addIfb(o: CommonLinkOptions): Link {
    return this.addSimpleLink("ifb", o);
  }

  /**
   * The kernel ignores IFLA_IFALIAS when it creates a device, so an alias (e.g. a mark saying who
   * made the device) is set by an RTM_SETLINK in the same datagram as the RTM_NEWLINK: both run in
   * one sendmsg, and a process killed around it leaves either no device or a marked one. A name
   * already in use is EEXIST before anything is sent. Should a device of that name appear between
   * that check and the datagram (its creator could not have given it an alias yet: see above), the
   * alias our second message gave it is removed again.
   */
  private addSimpleLink(kind: "dummy" | "ifb", o: CommonLinkOptions): Link {
    if (o.alias === undefined) {
      this.socket.request(addSimpleLinkRequest(kind, o));
      return this.getLink(o.name);
    }
    if (o.netnsFd !== undefined) throw new TypeError("an alias at creation needs the link in this socket's namespace");
    if (this.findLink(o.name)) throw new NetlinkError({ errno: Errno.EEXIST, op: "RTM_NEWLINK", target: o.name });
    const [made, marked] = this.socket.batch([addSimpleLinkRequest(kind, { ...o, alias: undefined }), setAliasByNameRequest(o.name, o.alias)]);
    if (made) {
      if (!marked) this.socket.batch([setAliasByNameRequest(o.name, "")]);
      throw made;
    }
    if (marked) {
      this.socket.batch([deleteLinkRequest(o.name)]);
      throw marked;
    }
    return this.getLink(o.name);
  }

  addVlan(o: Omit<VlanOptions, "parent"> & { parent: LinkRef }): Link {
    this.socket.request(addVlanRequest({ ...o, parent: this.linkIndex(o.parent) }));
    return this.getLink(o.name);
  }

  /** Apply several changes in one RTM_SETLINK (atomic from the kernel's point of view). */
  setLink(ref: LinkRef, changes: Omit<LinkChanges, "master" | "netnsFd"> & { master?: LinkRef | null; netns?: NsRef }): void {
    const { master, netns, ...rest } = changes;
    const index = this.linkIndex(ref);
    const masterIndex = master === undefined || master === null ? master : master === 0 ? 0 : this.linkIndex(master);
    withNsFd(netns, (netnsFd) => this.socket.request(setLinkRequest(index, { ...rest, master: masterIndex, netnsFd }, String(ref))));
  }

  setUp(ref: LinkRef): void { this.setLink(ref, { up: true }); }
  setDown(ref: LinkRef): void { this.setLink(ref, { up: false }); }
  setMtu(ref: LinkRef, mtu: number): void { this.setLink(ref, { mtu }); }
  setMac(ref: LinkRef, mac: string): void { this.setLink(ref, { mac }); }
  setName(ref: LinkRef, name: string): void { this.setLink(ref, { name }); }
  setPromisc(ref: LinkRef, on: boolean): void { this.setLink(ref, { promisc: on }); }
  setAlias(ref: LinkRef, alias: string): void { this.setLink(ref, { alias }); }
  /** Enslave to a bridge (or other master); null detaches. */
  setMaster(ref: LinkRef, master: LinkRef | null): void { this.setLink(ref, { master }); }
  /** Move to another namespace (path or open fd). The link disappears from this socket's view. */
  moveToNetns(ref: LinkRef, netns: NsRef): void { this.setLink(ref, { netns }); }

  deleteLink(ref: LinkRef): void {
    this.socket.request(deleteLinkRequest(ref));
  }

  /**
   * deleteLink() written from libuv's thread pool (NetlinkSocket.requestInBackground): deleting a
   * veth pair keeps the kernel busy for 10–30 ms (RCU grace periods), time this thread can use.
   * Use this Rtnl for nothing else until the promise settles.
   */
  async deleteLinkInBackground(ref: LinkRef): Promise<void> {
    await this.socket.requestInBackground(deleteLinkRequest(ref));
  }

  /** Bridge port flags via IFLA_PROTINFO (the port must already be enslaved). */
  setBridgePort(ref: LinkRef, o: BridgePortOptions): void {
    this.socket.request(setBridgePortRequest(this.linkIndex(ref), o, String(ref)));
  }

  // ---------------- addresses ----------------

  listAddrs(filter: { link?: LinkRef; family?: 4 | 6 } = {}): Addr[] {
    const index = filter.link === undefined ? undefined : this.linkIndex(filter.link);
    return this.socket
      .dump(dumpAddrsRequest({ family: filter.family, index }))
      .map((m) => decodeAddr(m.payload))
      .filter((a) => (index === undefined || a.index === index) && (!filter.family || a.family === filter.family));
  }

  /** Add "10.0.0.2/24" or "fd00::2/64"; IPv4 broadcast is computed. EEXIST if present (unless replace). */
  addAddr(link: LinkRef, cidr: string, o?: AddrOptions): void {
    this.socket.request(addAddrRequest(this.linkIndex(link), cidr, o));
  }

  deleteAddr(link: LinkRef, cidr: string): void {
    this.socket.request(deleteAddrRequest(this.linkIndex(link), cidr));
  }

  // ---------------- routes ----------------

  /** Routes of `table` (default main; 0 = every table), optionally one family / one output link. */
  listRoutes(filter: { family?: 4 | 6; table?: number; oif?: LinkRef } = {}): Route[] {
    const table = filter.table ?? RT_TABLE.MAIN;
    const oif = filter.oif === undefined ? undefined : this.linkIndex(filter.oif);
    return this.socket
      .dump(dumpRoutesRequest(filter.family))
      .map((m) => decodeRoute(m.payload))
      .filter((r) => (table === 0 || r.table === table) && (oif === undefined || r.oif === oif));
  }

  addRoute(r: RouteSpecRef): void {
    this.socket.request(addRouteRequest(this.routeSpec(r)));
  }

  replaceRoute(r: RouteSpecRef): void {
    this.socket.request(addRouteRequest(this.routeSpec(r), true));
  }

  deleteRoute(r: RouteSpecRef): void {
    this.socket.request(deleteRouteRequest(this.routeSpec(r)));
  }

  // ---------------- neighbours ----------------

  listNeighs(filter: { link?: LinkRef; family?: 4 | 6 } = {}): Neigh[] {
    const index = filter.link === undefined ? undefined : this.linkIndex(filter.link);
    return this.socket
      .dump(dumpNeighsRequest({ family: filter.family, index }))
      .map((m) => decodeNeigh(m.payload))
      .filter((n) => (index === undefined || n.index === index) && (!filter.family || n.family === filter.family));
  }

  /** Add or (by default) replace a neighbour entry; permanent unless a state is given. */
  addNeigh(link: LinkRef, n: NeighSpec): void {
    this.socket.request(addNeighRequest(this.linkIndex(link), n));
  }

  /** Make the kernel resolve `ip` now (NTF_USE); on one of the link's own IPv4 addresses: a gratuitous ARP. */
  resolveNeigh(link: LinkRef, ip: string): void {
    this.socket.request(useNeighRequest(this.linkIndex(link), ip));
  }

  deleteNeigh(link: LinkRef, ip: string): void {
    this.socket.request(deleteNeighRequest(this.linkIndex(link), ip));
  }

  // ---------------- tc: qdiscs ----------------

  /** Qdiscs of one link (or all links). The kernel dumps every device; we filter. */
  listQdiscs(link?: LinkRef): Qdisc[] {
    const index = link === undefined ? undefined : this.linkIndex(link);
    return this.socket
      .dump(dumpQdiscsRequest())
      .map((m) => decodeQdisc(m.payload))
      .filter((q) => index === undefined || q.index === index);
  }

  /**
   * The root qdisc of `link` when its handle is `handle`, else undefined (another root, or the
   * kernel's default): one request, where listQdiscs dumps every qdisc of every device in the
   * namespace (the kernel does not filter that dump by device), hundreds on a node with many
   * shaped pods. A missing device is thrown (ENODEV).
   */
  findRootQdisc(link: LinkRef, handle: number): Qdisc | undefined {
    return this.getTcObject(getRootQdiscRequest(this.linkIndex(link), handle), decodeQdisc);
  }

  /** EEXIST if a qdisc is already there (e.g. a second clsact). */
  addQdisc(link: LinkRef, q: QdiscOptions & QdiscPlacement): void {
    this.socket.request(qdiscRequest("add", this.linkIndex(link), q));
  }

  replaceQdisc(link: LinkRef, q: QdiscOptions & QdiscPlacement): void {
    this.socket.request(qdiscRequest("replace", this.linkIndex(link), q));
  }

  /** Delete "clsact"/"ingress", or the qdisc at {parent, handle} (default root). */
  deleteQdisc(link: LinkRef, which: "clsact" | "ingress" | QdiscPlacement = {}): void {
    this.socket.request(deleteQdiscRequest(this.linkIndex(link), which));
  }

  // ---------------- tc: classes ----------------

  listClasses(link: LinkRef, parent?: number | string): TcClass[] {
    const p = parent === undefined ? undefined : parseTcHandle(parent);
    return this.socket
      .dump(dumpClassesRequest(this.linkIndex(link)))
      .map((m) => decodeClass(m.payload))
      .filter((c) => p === undefined || c.parent === p);
  }

  addHtbClass(link: LinkRef, c: HtbClassOptions): void {
    this.socket.request(htbClassRequest("add", this.linkIndex(link), c));
  }

  replaceHtbClass(link: LinkRef, c: HtbClassOptions): void {
    this.socket.request(htbClassRequest("replace", this.linkIndex(link), c));
  }

  /**
   * The class `classid` of `link`, or undefined when its qdisc has no such class, takes none, or
   * there is no qdisc with its major. One request instead of a dump of the device's classes.
   */
  findClass(link: LinkRef, classid: number): TcClass | undefined {
    return this.getTcObject(getClassRequest(this.linkIndex(link), classid), decodeClass);
  }

  /**
   * One qdisc or class asked for by a get: undefined when the kernel has none that matches
   * (ENOENT; EINVAL: another root's handle, or a qdisc that takes no classes). ENODEV is thrown.
   */
  private getTcObject<T>(req: Request, decode: (payload: Buffer) => T): T | undefined {
    try {
      const [reply] = this.socket.request(req);
      return reply ? decode(reply.payload) : undefined;
    } catch (e) {
      if (isNetlinkError(e, "ENOENT") || isNetlinkError(e, "EINVAL")) return undefined;
      throw e;
    }
  }

  /**
   * Replace several classes and qdiscs of one device in one datagram: the kernel applies them in
   * order and acks each, so N changes cost one round trip. The first failure is thrown (a later
   * change usually failed because of it, e.g. a leaf whose class is missing).
   */
  replaceTc(link: LinkRef, changes: TcChange[]): void {
    const index = this.linkIndex(link);
    const reqs = changes.map((c) => ("class" in c ? htbClassRequest("replace", index, c.class) : qdiscRequest("replace", index, c.qdisc)));
    const failed = this.socket.batch(reqs).find((e) => e !== undefined);
    if (failed) throw failed;
  }

  deleteClass(link: LinkRef, classid: number | string): void {
    this.socket.request(deleteClassRequest(this.linkIndex(link), classid));
  }

  // ---------------- tc: filters ----------------

  /** Filters at a parent ("ingress"/"egress" on clsact, or a handle); the per-priority heads (handle 0) are left out. */
  listFilters(link: LinkRef, parent: BpfFilterOptions["parent"]): TcFilter[] {
    return this.socket
      .dump(dumpFiltersRequest(this.linkIndex(link), parent))
      .map((m) => decodeFilter(m.payload))
      .filter((f) => f.handle !== 0);
  }

  addBpfFilter(link: LinkRef, f: BpfFilterOptions): void {
    this.socket.request(bpfFilterRequest("add", this.linkIndex(link), f));
  }

  replaceBpfFilter(link: LinkRef, f: BpfFilterOptions): void {
    this.socket.request(bpfFilterRequest("replace", this.linkIndex(link), f));
  }

  deleteFilter(link: LinkRef, f: { parent: BpfFilterOptions["parent"]; priority?: number; handle?: number; protocol?: number; kind?: string }): void {
    this.socket.request(deleteFilterRequest(this.linkIndex(link), f));
  }

  // ---------------- bridge VLANs & ports ----------------

  /** Add VLANs (single, ranges, or a list in one request) to a bridge port; `self: true` on the bridge itself. */
  addBridgeVlan(link: LinkRef, v: BridgeVlanSpec | BridgeVlanSpec[]): void {
    this.socket.request(bridgeVlanRequest("add", this.linkIndex(link), v, String(link)));
  }

  deleteBridgeVlan(link: LinkRef, v: BridgeVlanSpec | BridgeVlanSpec[]): void {
    this.socket.request(bridgeVlanRequest("delete", this.linkIndex(link), v, String(link)));
  }

  /** Every bridge port and bridge with its VLANs and port flags (RTM_GETLINK AF_BRIDGE dump). */
  listBridgeLinks(): BridgeLinkInfo[] {
    return this.socket.dump(dumpBridgeLinksRequest()).map((m) => decodeBridgeLink(m.payload));
  }

  /** VLANs of one port or bridge. */
  listBridgeVlans(link: LinkRef): BridgeLinkInfo["vlans"] {
    const index = this.linkIndex(link);
    return this.listBridgeLinks().find((b) => b.index === index)?.vlans ?? [];
  }

  private routeSpec(r: RouteSpecRef): RouteSpec {
    return r.oif === undefined || typeof r.oif === "number" ? (r as RouteSpec) : { ...r, oif: this.linkIndex(r.oif) };
  }
}

/** RouteSpec whose oif may be a name. */
export type RouteSpecRef = Omit<RouteSpec, "oif"> & { oif?: LinkRef };
