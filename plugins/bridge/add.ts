// ADD: config → bridge → veth → IPAM → container addresses/routes → gateway → masquerade.
// Every step that creates per-attachment state pushes its undo; a failure unwinds them all
// (veth, IPAM allocation, spoof-check and masquerade rules) and names the step that failed.
// The bridge and its gateway address are shared by the network and are kept (see bridge-dev.ts).
import { delegate } from "../../core/delegate";
import { CniError, Code } from "../../core/errors";
import type { AttachmentKey, CmdArgs } from "../../core/plugin";
import type { Result } from "../../core/result/types";
import { step, stepAsync, UndoStack } from "../../core/undo";
import { parseCidr } from "../../core/ip";
import { isNetlinkError, Rtnl } from "../../kernel/netlink/index";
import { addAddresses, addRoutes, announceIPv4, containerSysctls, settleAddresses, writeSysctlsIn } from "./addresses";
import { enableForwarding, ensureBridge, ensureGatewayAddr, ensureVlanGateway } from "./bridge-dev";
import { type BridgeConfig, parseBridgeConfig } from "./config";
import { resolveBackend, setupMasq, setupSpoofCheck, teardownMasq, teardownSpoofCheck } from "./netfilter";
import { buildResult, type Interfaces, type Layer3, shapeLayer3 } from "./result";
import { attachPort, createVeth, randomVethName, waitPortUp } from "./veth";

export async function cmdAdd(args: CmdArgs): Promise<Result> {
  const cfg = step("parse the configuration", () => parseBridgeConfig(args.conf, args));
  const masqBackend = cfg.ipMasq ? resolveBackend(cfg.ipMasqBackend) : undefined;
  // The first socket also loads the native addon.
  const host = step("open the node's netlink socket", () => Rtnl.open());
  let cont: Rtnl | undefined;
  try {
    cont = step("open container netns", () => Rtnl.open(args.netns));
    return await new UndoStack().run((undo) => addSteps(args, cfg, masqBackend, host, cont!, undo));
  } finally {
    host.close();
    cont?.close();
  }
}

async function addSteps(args: CmdArgs, cfg: BridgeConfig, masqBackend: ReturnType<typeof resolveBackend> | undefined, host: Rtnl, cont: Rtnl, undo: UndoStack): Promise<Result> {
  const br = step(`set up bridge "${cfg.bridge}"`, () => ensureBridge(host, cfg)).link;

  const { hostName, hostLink } = step("create veth pair", () =>
    createVeth(host, { containerIf: args.ifname, containerNs: args.netns, ...(cfg.mtu ? { mtu: cfg.mtu } : {}), ...(cfg.mac ? { mac: cfg.mac } : {}) }),
  );
  undo.push(`delete veth ${hostName}`, () => {
    try {
      host.deleteLink(hostLink.index);
    } catch (e) {
      if (!isNetlinkError(e, "ENODEV")) throw e;
    }
  });
  step(`attach ${hostName} to bridge "${cfg.bridge}"`, () => attachPort(host, hostLink, br, cfg));

  const contLink = step(`find ${args.ifname} in the container`, () => cont.getLink(args.ifname));
  const contUp = !cfg.disableContainerInterface;
  // Up now, so the port becomes forwarding while IPAM runs.
  if (contUp) step(`set ${args.ifname} up`, () => cont.setUp(contLink.index));

  if (cfg.macspoofchk) {
    const target: AttachmentKey = { network: cfg.name, containerID: args.containerID, ifname: args.ifname };
    step("set up MAC spoof check", () => setupSpoofCheck(hostName, contLink.mac ?? "", target));
    undo.push("remove MAC spoof check", () => teardownSpoofCheck(target));
  }

  let l3: Layer3 | undefined;
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    const ipam = await stepAsync(`IPAM plugin "${type}" ADD`, async () => (await delegate(type, "ADD", args.stdin, args, cfg.cniVersion))!);
    undo.push(`release the address with IPAM plugin "${type}"`, async () => {
      await delegate(type, "DEL", args.stdin, args, cfg.cniVersion);
    });
    if (!ipam.ips?.length) throw new CniError(Code.DelegateFailed, `IPAM plugin "${type}" returned missing IP config`);
    l3 = shapeLayer3(ipam, cfg);
  }

  if (contUp) await stepAsync(`wait for bridge port ${hostName}`, () => waitPortUp(host, hostLink.index));

  if (l3) {
    const layer3 = l3;
    const hasV6 = layer3.ips.some((ip) => parseCidr(ip.address).family === 6);
    step("configure container sysctls", () => writeSysctlsIn(args.netns, containerSysctls(args.ifname, cfg.enabledad, hasV6)));
    step("configure container addresses", () => addAddresses(cont, contLink.index, layer3));
    if (cfg.enabledad && hasV6) await stepAsync("IPv6 duplicate address detection", () => settleAddresses(cont, contLink.index));
    step("configure container routes", () => addRoutes(cont, contLink.index, layer3));
    announceIPv4(cont, contLink.index, layer3);
  }

  const ifs: Interfaces = {
    bridge: { name: cfg.bridge },
    host: { name: hostName },
    container: { name: args.ifname, ...(contLink.mac ? { mac: contLink.mac } : {}), sandbox: args.netns },
  };

  if (l3 && cfg.isGateway) {
    for (const family of [4, 6] as const) {
      const gws = l3.gateways[family];
      if (!gws.length) continue;
      for (const gw of gws) {
        const dev = cfg.vlan
          ? step("set up the VLAN gateway interface", () =>
              ensureVlanGateway(host, br, cfg, (port) => attachPort(host, port, br, { ...cfg, hairpinMode: false, portIsolation: false, vlanTrunk: [] }), randomVethName),
            )
          : br;
        if (cfg.vlan) ifs.vlanGateway = { name: dev.name, ...(dev.mac ? { mac: dev.mac } : {}) };
        step(`set gateway address ${gw} on ${dev.name}`, () => ensureGatewayAddr(host, dev, gw, cfg.forceAddress));
      }
      step(`enable IPv${family} forwarding`, () => enableForwarding(family));
    }
  }

  if (l3 && masqBackend) {
    const target: AttachmentKey = { network: cfg.name, containerID: args.containerID, ifname: args.ifname };
    const cidrs = l3.ips.map((ip) => ip.address);
    undo.push("remove masquerade rules", () => teardownMasq(target, cidrs));
    step(`set up masquerading (${masqBackend})`, () => setupMasq(masqBackend, target, cidrs));
  }

  // The host end's MAC is the one it was created with; the bridge's changes when the first port
  // joins or its address is set, so it is read last.
  if (hostLink.mac) ifs.host.mac = hostLink.mac;
  const brNow = host.getLink(br.index);
  if (brNow.mac) ifs.bridge.mac = brNow.mac;
  return buildResult(cfg.cniVersion, ifs, l3, cfg.dns);
}
