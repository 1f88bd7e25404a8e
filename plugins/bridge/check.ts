// CHECK: the IPAM first, then the running state against prevResult, as the reference does: the
// bridge, the container interface (a veth, MAC as recorded), its host peer (a veth enslaved to
// the bridge, hairpin as configured), the container's addresses and routes.
import { delegate } from "../../core/delegate";
import { CniError, Code } from "../../core/errors";
import type { CmdArgs } from "../../core/plugin";
import type { Interface, Result } from "../../core/result/types";
import { stepAsync } from "../../core/undo";
import { parseCidr, parseIpBytes } from "../../core/ip";
import { type Link, Rtnl } from "../../kernel/netlink/index";
import { type BridgeConfig, parseBridgeConfig } from "./config";
import { canonicalPrefix } from "./result";

const sameIp = (a: string, b: string) => parseIpBytes(a).equals(parseIpBytes(b));
const fail = (msg: string, details = "") => new CniError(Code.CheckFailed, msg, details);

export async function cmdCheck(args: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(args.conf, args);
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    await stepAsync(`IPAM plugin "${type}" CHECK`, () => delegate(type, "CHECK", args.stdin, args, cfg.cniVersion));
  }
  const prev = args.conf.prevResult;
  if (!prev) throw new CniError(Code.InvalidNetworkConfig, "required prevResult missing", "CHECK needs the result of ADD in prevResult");
  const host = Rtnl.open();
  let cont: Rtnl | undefined;
  try {
    cont = Rtnl.open(args.netns);
    checkState(args, cfg, prev, host, cont);
  } finally {
    host.close();
    cont?.close();
  }
}

function macMatches(want: Interface, link: Link, what: string): void {
  if (want.mac && link.mac && want.mac.toLowerCase() !== link.mac.toLowerCase()) {
    throw fail(`${what} ${link.name} has MAC ${link.mac}`, `prevResult says ${want.mac}`);
  }
}

export function checkState(args: CmdArgs, cfg: BridgeConfig, prev: Result, host: Rtnl, cont: Rtnl): void {
  const ifs = prev.interfaces ?? [];
  const brWant = ifs.find((i) => i.name === cfg.bridge);
  const contWant = ifs.find((i) => i.name === args.ifname && i.sandbox === args.netns);
  if (!brWant) throw fail(`bridge "${cfg.bridge}" is not in prevResult`);
  if (!contWant) throw fail(`interface "${args.ifname}" in sandbox ${args.netns} is not in prevResult`);

  const br = host.findLink(cfg.bridge);
  if (!br) throw fail(`CNI created bridge ${cfg.bridge} in host namespace was not found`);
  if (br.kind !== "bridge") throw fail(`"${cfg.bridge}" is not a bridge`, `kind ${br.kind ?? "none"}`);
  macMatches(brWant, br, "bridge");
  if (cfg.promiscMode !== br.promisc) throw fail(`bridge ${cfg.bridge} promiscuous mode is ${br.promisc ? "on" : "off"}`, `config says ${cfg.promiscMode ? "on" : "off"}`);

  const c = cont.findLink(args.ifname);
  if (!c) throw fail(`CNI created interface in container ${args.ifname} not found`);
  if (c.kind !== "veth") throw fail(`container interface ${args.ifname} is not a veth`, `kind ${c.kind ?? "none"}`);
  macMatches(contWant, c, "container interface");

  // The host end: another interface of prevResult that is c's peer and a port of the bridge.
  const candidates = ifs.filter((i) => i !== brWant && i !== contWant && !i.sandbox);
  const veth = candidates.map((i) => ({ want: i, link: host.findLink(i.name) })).find((x) => x.link && x.link.kind === "veth" && x.link.index === c.link);
  if (!veth || !veth.link) throw fail(`CNI veth created for bridge ${cfg.bridge} was not found`, `no interface of prevResult is the peer of ${args.ifname}`);
  if (veth.link.master !== br.index) throw fail(`veth ${veth.link.name} is not attached to bridge ${cfg.bridge}`);
  macMatches(veth.want, veth.link, "veth");
  if ((veth.link.bridgePort?.hairpin ?? false) !== cfg.hairpinMode) throw fail(`veth ${veth.link.name} hairpin mode differs from the config`);

  const addrs = cont.listAddrs({ link: c.index });
  const routes = cont.listRoutes({ table: 0 });
  for (const ip of prev.ips ?? []) {
    const want = parseCidr(ip.address);
    if (!addrs.some((a) => sameIp(a.address, want.address) && a.prefixLen === want.prefixLen)) {
      throw fail(`failed to match addr ${ip.address} on interface ${args.ifname}`);
    }
    const prefix = canonicalPrefix(ip.address);
    if (!routes.some((r) => r.dst === prefix)) throw fail(`no route to ${prefix} for ${ip.address} on ${args.ifname}`);
  }
  for (const r of prev.routes ?? []) {
    const dst = canonicalPrefix(r.dst);
    const found = routes.some((x) => canonicalPrefix(x.dst) === dst && (r.gw === undefined || (x.gw !== undefined && sameIp(x.gw, r.gw))) && (r.table === undefined || x.table === r.table));
    if (!found) throw fail(`expected route ${r.dst}${r.gw ? ` via ${r.gw}` : ""} not found in the container`);
  }
}
