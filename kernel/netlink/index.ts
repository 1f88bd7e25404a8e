// Typed rtnetlink over our own N-API socket (kernel/native.ts). Not the npm `netlink` package:
// that one has no errno on errors, no namespace support, and raw link-info/tc buffers.
//
// API summary (all synchronous; each Rtnl acts in the namespace it was opened in):
//
//   const nl = Rtnl.open(nsPath?)              // socket created inside withNetns(nsPath)
//   nl.close()
// Links (LinkRef = index | name):
//   nl.listLinks(): Link[]                     nl.getLink(ref): Link (ENODEV)   nl.findLink(ref): Link|undefined
//   nl.linkIndex(ref): number
//   nl.addVeth({name, mtu?, mac?, netns?, peer: {name, mtu?, mac?, netns?: path|fd}}): Link (local end)
//   nl.addBridge({name, mtu?, mac?, vlanFiltering?, defaultPvid?, mcastSnooping?}): Link
//   nl.addDummy({name,...}) / nl.addIfb({name,...}) / nl.addVlan({name, parent, id, protocol?}): Link
//   nl.setLink(ref, {up?, mtu?, mac?, name?, master?: ref|null, promisc?, netns?, alias?, txqlen?})
//   nl.setUp/setDown(ref)  setMtu(ref,n)  setMac(ref,mac)  setName(ref,name)  setPromisc(ref,on)
//   nl.setMaster(ref, bridge|null)  nl.moveToNetns(ref, path|fd)  nl.deleteLink(ref)
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
// Errors: NetlinkError {errno, code: "EEXIST"|"ENODEV"|..., op: "RTM_NEWLINK", target?, extack?}
//   message "RTM_NEWLINK veth0: File exists (extack text)"; isNetlinkError(e, "EEXIST").
// (tc, neighbours and bridge VLANs: see the sections below as they land.)
export * from "./constants";
export { NetlinkError, isNetlinkError, errnoName } from "./errors";
export { type Cidr, parseCidr, parseIp, formatIp, parseMac, formatMac, networkOf, broadcastOf, ipFamily } from "./ip";
export type { Link, LinkRef, LinkChanges, BridgeOptions, BridgePortOptions, BridgePortInfo, VlanOptions, CommonLinkOptions, OperState } from "./link";
export type { Addr, AddrOptions } from "./addr";
export type { Route, RouteSpec, RouteType } from "./route";
export { NetlinkSocket, type Request, type SocketOptions } from "./socket";
export { Rtnl, type AddVethOptions, type NsRef, type RouteSpecRef } from "./rtnl";
