// Typed rtnetlink over our own N-API socket (kernel/native.ts). Not the npm `netlink` package:
// that one has no errno on errors, no namespace support, and raw link-info/tc buffers.
//
// API summary (all synchronous; each Rtnl acts in the namespace it was opened in):
//
//   const nl = Rtnl.open(nsPath?)              // socket created inside withNetns(nsPath)
//   nl.close()                                 Rtnl.with(nsPath, (nl) => ...) opens, runs, closes
// Links (LinkRef = index | name):
//   nl.listLinks(): Link[]                     nl.getLink(ref): Link (ENODEV)   nl.findLink(ref): Link|undefined
//   nl.linkIndex(ref): number
//   nl.addVeth({name, mtu?, mac?, netns?, peer: {name, mtu?, mac?, netns?: path|fd}}): Link (local end)
//   nl.addBridge({name, mtu?, mac?, vlanFiltering?, defaultPvid?, mcastSnooping?}): Link
//   nl.addDummy({name,...}) / nl.addIfb({name,...}) / nl.addVlan({name, parent, id, protocol?}): Link
//     (dummy/ifb with alias: created and aliased in one datagram, NetlinkSocket.batch)
//     (a kernel without the dummy or 8021q driver answers EOPNOTSUPP "Unknown device type")
//   nl.setLink(ref, {up?, mtu?, mac?, name?, master?: ref|null, promisc?, netns?, alias?, txqlen?})
//   nl.setUp/setDown(ref)  setMtu(ref,n)  setMac(ref,mac)  setName(ref,name)  setPromisc(ref,on)
//   nl.setMaster(ref, bridge|null)  nl.moveToNetns(ref, path|fd)  nl.deleteLink(ref)
//   await nl.deleteLinkInBackground(ref)       the request written from libuv's thread pool
//   nl.setBridgePort(ref, {hairpin?, isolated?, learning?, unicastFlood?, cost?, priority?})
//   Link = {index, name, kind?, type, mtu, mac?, flags, up, lowerUp, promisc, operstate, master?,
//           link? (veth peer / vlan parent index), linkNetnsid?, alias?, vlanFiltering?,
//           defaultPvid?, mcastSnooping?, vlanId?, bridgePort?: {hairpin, learning, isolated, ...}}
// Addresses ("10.0.0.2/24", "fd00::2/64"):
//   nl.listAddrs({link?, family?: 4|6}): Addr[]   Addr = {index, family, cidr, address, prefixLen, broadcast?, scope, flags, tentative, ...}
//   nl.addAddr(link, cidr, {nodad?, noprefixroute?, label?, scope?, peer?, broadcast?, replace?, validLft?, preferredLft?})
//   nl.deleteAddr(link, cidr)
// Routes (dst "10.1.0.0/16", "0.0.0.0/0", "::/0"):
//   nl.listRoutes({family?, table? (default main, 0 = all), oif?}): Route[]
//   nl.addRoute / replaceRoute / deleteRoute({dst, gw?, oif?, src?, priority?, scope?, table?, type?, protocol?, mtu?, advmss?, onlink?})
//   Route = {family, dst, gw?, oif?, src?, priority?, scope, table, type, protocol, flags, mtu?, advmss?}
// Errors: NetlinkError {errno, code: "EEXIST"|"ENODEV"|..., op: "RTM_NEWLINK", target?, extack?, syscall? (socket failure, e.g. recv timeout)}
//   message "RTM_NEWLINK veth0: File exists (extack text)"; isNetlinkError(e, "EEXIST").
//   A list*() whose dump the kernel interrupted on every retry is EINTR: never a partial list.
// Neighbours:
//   nl.listNeighs({link?, family?}): Neigh[]    Neigh = {index, family, ip, mac?, state, states: ["permanent"...], flags, router}
//   nl.addNeigh(link, {ip, mac?, state? (default "permanent"), replace? (default true), router?})   nl.deleteNeigh(link, ip)
//   nl.resolveNeigh(link, ip)                  NTF_USE: kernel sends ARP/NS now (own IPv4 address → gratuitous ARP)
// tc (rates in bits/s, bursts/limits in bytes; handles as numbers, parseTcHandle("1:10") / tcHandle(1, 0x10) / formatTcHandle(n)):
//   nl.listQdiscs(link?): Qdisc[]   Qdisc = {index, kind, handle, parent, stats?, htb?: {defaultClass, r2q}, tbf?: {rate, burst, limit}}
//   rootQdisc(qdiscs, ifindex) / isRootQdisc(q): a device's root (parent TC_H_ROOT)
//   nl.addQdisc / replaceQdisc(link, {kind: "clsact"} | {kind: "ingress"}
//        | {kind: "htb", handle?: "1:", parent?, defaultClass?: 0x10, r2q?, directQlen?}
//        | {kind: "tbf", rate, burst, limit? | latencyMs?, handle?, parent?}
//        | {kind: "bfifo" | "pfifo", limit, parent?, handle?})     Qdisc.fifo = {limit}
//   nl.deleteQdisc(link, "clsact" | "ingress" | {parent?, handle?})
//   nl.listClasses(link, parent?): TcClass[]   TcClass = {index, kind, handle, parent, stats?, htb?: {rate, ceil, burst, cburst, prio, quantum, level}}
//   nl.addHtbClass / replaceHtbClass(link, {classid: "1:10", parent: "1:", rate, ceil?, burst?, cburst?, prio?, quantum?, mtu?})
//   nl.deleteClass(link, classid)
//   nl.listFilters(link, "ingress"|"egress"|handle): TcFilter[]  TcFilter = {index, kind, parent, priority, protocol, handle, bpf?: {name?, id?, tag?, directAction}}
//   nl.addBpfFilter / replaceBpfFilter(link, {parent: "ingress"|"egress"|handle, fd, name?, directAction? (true), priority? (1), handle? (1), protocol? (ETH_P_ALL), classid?, mirredRedirect? (ifindex)})
//   nl.deleteFilter(link, {parent, priority?, handle?, protocol?, kind?})
//   TcStats = {bytes, packets, drops, overlimits, requeues, qlen, backlog}
// Bridge VLANs (needs CONFIG_BRIDGE_VLAN_FILTERING):
//   nl.addBridgeVlan / deleteBridgeVlan(link, {vid, vidEnd?, pvid?, untagged?, self?} | [...several, one request])
//   nl.listBridgeVlans(link): {vid, pvid, untagged}[]   nl.listBridgeLinks(): {index, name, master?, vlans, port?}[]
export * from "./constants";
export { NetlinkError, isNetlinkError, errnoName } from "./errors";
export { parseMac, formatMac } from "./mac";
export type { Link, LinkRef, LinkChanges, BridgeOptions, BridgePortOptions, BridgePortInfo, VlanOptions, CommonLinkOptions, OperState } from "./link";
export type { Addr, AddrOptions } from "./addr";
export type { Route, RouteSpec, RouteType } from "./route";
export type { Neigh, NeighSpec, NeighState } from "./neigh";
export type { FifoQdiscOptions, Qdisc, QdiscOptions, QdiscPlacement, HtbQdiscOptions, TbfQdiscOptions, TcClass, HtbClassOptions, TcFilter, BpfFilterOptions, TcStats } from "./tc";
export { filterParent } from "./tc";
export { formatQdiscHandle, formatTcHandle, isRootQdisc, parseTcHandle, rootQdisc, tcHandle, tcMajor, tcMinor } from "./tc-handle";
export { type Psched, MAX_TICKS, parsePsched, psched, maxXmitBytes, xmitTicks, xmitBytes } from "./psched";
export type { BridgeVlanSpec, BridgeVlan, BridgeLinkInfo } from "./bridge-vlan";
export { NetlinkSocket, type Request, type SocketOptions, type Transport } from "./socket";
export { Rtnl, type TcChange, type AddVethOptions, type NsRef, type RouteSpecRef } from "./rtnl";
