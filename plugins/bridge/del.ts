// DEL: idempotent. A missing namespace or interface is success. Masquerade state is removed by
// name, so it goes even when CNI_NETNS is empty or the container is gone (the reference leaks it
// then: containernetworking/plugins #810). Every part is attempted; every failure is reported, the
// first as the error (core/undo.ts Teardown).
import { delegate } from "../../core/delegate";
import type { AttachmentKey, CmdArgs } from "../../core/plugin";
import { Teardown, traceStep } from "../../core/undo";
import { isNetlinkError, Rtnl } from "../../kernel/netlink/index";
import { isNetnsMissing } from "../../kernel/netns";
import { parseBridgeConfig } from "./config";
import { teardownMasq, teardownSpoofCheck } from "./netfilter";

/**
 * Delete the container interface, and so its veth peer; nothing to do if the namespace or the link
 * is gone. The kernel spends 10–30 ms inside that one request (unregistering both ends waits for
 * RCU grace periods), so it is written in the background (Rtnl.deleteLinkInBackground): the IPAM
 * DEL and the netfilter teardown run meanwhile. The socket is opened in the container's namespace,
 * so which thread writes to it does not matter.
 */
export async function deleteContainerLink(netns: string, ifname: string): Promise<void> {
  let nl: Rtnl;
  try {
    nl = Rtnl.open(netns);
  } catch (e) {
    if (isNetnsMissing(e)) return; // namespace already gone
    throw e;
  }
  try {
    await nl.deleteLinkInBackground(ifname);
  } catch (e) {
    if (!isNetlinkError(e, "ENODEV")) throw e;
  } finally {
    nl.close();
  }
}

/**
 * This interface's addresses from prevResult (runtimes send it with DEL from spec 0.4.0 on), so
 * masquerade teardown can tell its jumps from those of the pod's other interfaces on the same
 * network (the reference's iptables key has no ifname). Undefined without them: then all of the
 * key's jumps go, as they must when the runtime lost the result (plugins #810).
 */
export function addressesOf(args: Pick<CmdArgs, "conf" | "ifname">): string[] | undefined {
  const prev = args.conf.prevResult;
  const ifs = prev?.interfaces ?? [];
  const ips = (prev?.ips ?? []).filter((ip) => ip.interface === undefined || ifs[ip.interface]?.name === args.ifname).map((ip) => ip.address);
  return ips.length ? ips : undefined;
}

export async function cmdDel(args: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(args.conf, args);
  const parts = new Teardown();
  // Started first, awaited last, reported first.
  let linkDeleted: Promise<void> | undefined;
  let linkStarted = 0;
  if (args.netns) {
    linkStarted = performance.now();
    linkDeleted = deleteContainerLink(args.netns, args.ifname);
    linkDeleted.catch(() => {}); // handled below; no unhandled-rejection warning meanwhile
  }
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    await parts.attemptAsync(`IPAM plugin "${type}" DEL`, () => delegate(type, "DEL", args.stdin, args, cfg.cniVersion));
  }
  const target: AttachmentKey = { network: cfg.name, containerID: args.containerID, ifname: args.ifname };
  if (cfg.macspoofchk) parts.attempt("remove MAC spoof check", () => teardownSpoofCheck(target));
  if (cfg.ipMasq) parts.attempt("remove masquerade rules", () => teardownMasq(target, addressesOf(args)));
  if (linkDeleted) {
    try {
      await linkDeleted;
    } catch (e) {
      parts.fail(e, `delete ${args.ifname}`, true);
    } finally {
      traceStep(`delete ${args.ifname} (in the background)`, linkStarted);
    }
  }
  parts.finish();
}
