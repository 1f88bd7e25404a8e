// Turning the IPAM result into the bridge result, as the reference's calcGateways does: every
// address belongs to the container interface (index 2), gateways default to the subnet's first
// address when the bridge is a gateway, and isDefaultGateway adds a default route per family
// unless the IPAM already gave one with a gateway. Pure.
import { formatIpBytes, networkOf, parseCidr, parseIpBytes } from "../../core/ip";
import type { DNS, Interface, IPConfig, Result, Route } from "../../core/result/types";
import type { BridgeConfig } from "./config";

/** Index of the container interface in the result: [bridge, host veth, container]. */
export const CONTAINER_IF_INDEX = 2;

export interface Layer3 {
  ips: IPConfig[];
  routes: Route[];
  dns?: DNS;
  /** Addresses to put on the bridge (gateway/prefix), per family, when it is a gateway. */
  gateways: { 4: string[]; 6: string[] };
}

/** The address after `ip` (network + 1 for the default gateway). */
export function nextIp(ip: string): string {
  const b = parseIpBytes(ip);
  for (let i = b.length - 1; i >= 0; i--) {
    b[i] = (b[i]! + 1) & 0xff;
    if (b[i] !== 0) break;
  }
  return formatIpBytes(b);
}

/** "10.1.2.3/24" → "10.1.2.1" */
export const defaultGatewayFor = (cidr: string) => nextIp(networkOf(parseCidr(cidr)));

/** Canonical "network/prefix" text for comparing route destinations. */
export function canonicalPrefix(cidr: string): string {
  const c = parseCidr(cidr);
  return `${networkOf(c)}/${c.prefixLen}`;
}

const DEFAULT_DST = { 4: "0.0.0.0/0", 6: "::/0" } as const;

export function shapeLayer3(ipam: Result, cfg: Pick<BridgeConfig, "isGateway" | "isDefaultGateway">): Layer3 {
  const routes: Route[] = (ipam.routes ?? []).map((r) => ({ ...r }));
  const gateways: Layer3["gateways"] = { 4: [], 6: [] };
  const defaultFound = { 4: false, 6: false };
  const ips = (ipam.ips ?? []).map((ipc): IPConfig => {
    const c = parseCidr(ipc.address);
    const out: IPConfig = { address: ipc.address, interface: CONTAINER_IF_INDEX };
    const gateway = ipc.gateway ?? (cfg.isGateway ? defaultGatewayFor(ipc.address) : undefined);
    if (gateway !== undefined) out.gateway = gateway;
    if (cfg.isDefaultGateway && !defaultFound[c.family]) {
      defaultFound[c.family] = routes.some((r) => r.gw !== undefined && canonicalPrefix(r.dst) === DEFAULT_DST[c.family]);
      if (!defaultFound[c.family]) {
        const r: Route = { dst: DEFAULT_DST[c.family] };
        if (gateway !== undefined) r.gw = gateway;
        routes.push(r);
        defaultFound[c.family] = true;
      }
    }
    if (cfg.isGateway && gateway !== undefined) gateways[c.family].push(`${gateway}/${c.prefixLen}`);
    return out;
  });
  const l3: Layer3 = { ips, routes, gateways };
  if (ipam.dns) l3.dns = ipam.dns;
  return l3;
}

export interface Interfaces {
  bridge: Interface;
  host: Interface;
  container: Interface;
  /** The "<bridge>.<vlan>" gateway interface, when isGateway and vlan are both set. */
  vlanGateway?: Interface;
}

/** The final result in the reference's shape; `dns` from the config wins when set. */
export function buildResult(cniVersion: string, ifs: Interfaces, l3: Layer3 | undefined, configDns: DNS | undefined): Result {
  const interfaces = [ifs.bridge, ifs.host, ifs.container];
  if (ifs.vlanGateway) interfaces.push(ifs.vlanGateway);
  const result: Result = { cniVersion, interfaces };
  if (l3) {
    result.ips = l3.ips;
    if (l3.routes.length) result.routes = l3.routes;
    if (l3.dns) result.dns = l3.dns;
  }
  if (configDns) result.dns = configDns;
  return result;
}
