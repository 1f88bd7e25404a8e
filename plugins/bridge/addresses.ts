// Configuring the container interface: sysctls, addresses, routes, and announcing the addresses
// so neighbours with a stale entry (an address reused from a deleted container) learn the new MAC.
//
// Addresses go on after the bridge port is forwarding: frames sent earlier (the kernel's own
// gratuitous ARP/NA at link-up) are dropped by a port that is still disabled, which is why the
// reference's arp_notify rarely reaches anyone. IPv6: ndisc_notify=1 makes the kernel send an
// unsolicited NA when each address becomes valid. IPv4: a neighbour "use" of our own address
// makes the kernel send an ARP request with sender = target = that address, a gratuitous ARP.
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import { withNetns } from "../../kernel/netns";
import { parseCidr } from "../../core/ip";
import { isNetlinkError, type Rtnl } from "../../kernel/netlink/index";
import type { Route } from "../../core/result/types";
import type { Layer3 } from "./result";

/** Several /proc/sys writes in one namespace switch; failures are ignored like the reference's. */
export function writeSysctlsIn(nsPath: string, entries: [string, string][]): void {
  withNetns(nsPath, () => {
    for (const [key, value] of entries) {
      try {
        fs.writeFileSync(`/proc/sys/${key}`, value);
      } catch {
        /* missing IPv6, read-only /proc/sys: not fatal */
      }
    }
  });
}

export function containerSysctls(ifname: string, enabledad: boolean, hasV6: boolean): [string, string][] {
  const e: [string, string][] = [];
  if (hasV6) e.push(["net/ipv6/conf/lo/disable_ipv6", "0"], [`net/ipv6/conf/${ifname}/disable_ipv6`, "0"]);
  if (enabledad) e.push([`net/ipv6/conf/${ifname}/enhanced_dad`, "1"], [`net/ipv6/conf/${ifname}/accept_dad`, "1"]);
  else e.push([`net/ipv6/conf/${ifname}/accept_dad`, "0"]);
  e.push([`net/ipv4/conf/${ifname}/arp_notify`, "1"], [`net/ipv6/conf/${ifname}/ndisc_notify`, "1"]);
  return e;
}

export function addAddresses(cont: Rtnl, index: number, l3: Layer3): void {
  for (const ip of l3.ips) {
    try {
      cont.addAddr(index, ip.address);
    } catch (e) {
      throw new CniError(Code.Kernel, `failed to add IP address ${ip.address} to the container interface`, (e as Error).message);
    }
  }
}

/** Wait for IPv6 DAD (only when enabledad): the reference's SettleAddresses, 10 s budget. */
export async function settleAddresses(cont: Rtnl, index: number, budgetMs = 10_000): Promise<void> {
  const started = Date.now();
  let delay = 5;
  for (;;) {
    const addrs = cont.listAddrs({ link: index, family: 6 });
    const failed = addrs.find((a) => a.dadFailed);
    if (failed) throw new CniError(Code.Kernel, `duplicate address detection failed for ${failed.cidr}`, "another host on the link uses this address");
    if (!addrs.some((a) => a.tentative)) return;
    if (Date.now() - started > budgetMs) throw new CniError(Code.Kernel, "IPv6 addresses still tentative", `after ${budgetMs} ms`);
    // DAD takes about a second; a short poll (one small dump) returns within ~20 ms of its end, not 50.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
  }
}

/** Routes as ipam.ConfigureIface: a route without gw uses the first gateway of its family. */
export function addRoutes(cont: Rtnl, index: number, l3: Layer3): void {
  const gw: { 4?: string; 6?: string } = {};
  for (const ip of l3.ips) {
    const f = parseCidr(ip.address).family;
    if (ip.gateway && !gw[f]) gw[f] = ip.gateway;
  }
  for (const r of l3.routes) addRoute(cont, index, r, gw[parseCidr(r.dst).family]);
}

function addRoute(cont: Rtnl, index: number, r: Route, familyGw: string | undefined): void {
  const via = r.gw ?? familyGw;
  try {
    cont.addRoute({
      dst: r.dst, oif: index,
      ...(via ? { gw: via } : {}),
      ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
      ...(r.advmss !== undefined ? { advmss: r.advmss } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      ...(r.table !== undefined ? { table: r.table } : {}),
      ...(r.scope !== undefined ? { scope: r.scope } : {}),
    });
  } catch (e) {
    throw new CniError(Code.Kernel, `failed to add route '${r.dst} via ${via ?? "-"}' in the container`, (e as Error).message);
  }
}

/** One gratuitous ARP per IPv4 address (IPv6 is announced by the kernel, see above). Best effort. */
export function announceIPv4(cont: Rtnl, index: number, l3: Layer3): void {
  for (const ip of l3.ips) {
    const c = parseCidr(ip.address);
    if (c.family !== 4) continue;
    try {
      cont.resolveNeigh(index, c.address);
      // The entry has done its job (the first probe left at once); without it no retries follow.
      cont.deleteNeigh(index, c.address);
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
    }
  }
}
