// DEL: idempotent. A missing namespace or interface is success. Masquerade state is removed by
// name, so it goes even when CNI_NETNS is empty or the container is gone (the reference leaks it
// then: containernetworking/plugins #810). Every part is attempted; the first failure is reported.
import { delegate } from "../../core/delegate";
import { asCniError, CniError, Code } from "../../core/errors";
import type { CmdArgs } from "../../core/plugin";
import { isNetlinkError, Rtnl } from "../../kernel/netlink/index";
import { spoofCheckId } from "./add";
import { parseBridgeConfig } from "./config";
import { teardownMasq, teardownSpoofCheck } from "./netfilter";

/** Delete the container interface (and so its veth peer); nothing to do if netns or link is gone. */
export function deleteContainerLink(netns: string, ifname: string): void {
  let cont: Rtnl;
  try {
    cont = Rtnl.open(netns);
  } catch (e) {
    if (e instanceof CniError && e.code === Code.InvalidNetNS) return; // namespace already gone
    throw e;
  }
  try {
    cont.deleteLink(ifname);
  } catch (e) {
    if (!isNetlinkError(e, "ENODEV")) throw e;
  } finally {
    cont.close();
  }
}

export async function cmdDel(args: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(args.conf, args);
  const failures: CniError[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      failures.push(asCniError(e, what));
    }
  };
  if (args.netns) await attempt(`delete ${args.ifname}`, () => deleteContainerLink(args.netns, args.ifname));
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    await attempt(`IPAM plugin "${type}" DEL`, () => delegate(type, "DEL", args.stdin, args, cfg.cniVersion));
  }
  if (cfg.macspoofchk) await attempt("remove MAC spoof check", () => teardownSpoofCheck(spoofCheckId(args.containerID, args.ifname)));
  if (cfg.ipMasq) await attempt("remove masquerade rules", () => teardownMasq({ network: cfg.name, containerID: args.containerID, ifname: args.ifname }));
  if (failures.length) {
    const [first, ...rest] = failures;
    throw rest.length ? new CniError(first!.code, first!.msg, [first!.details, ...rest.map((r) => r.message)].filter(Boolean).join("; ")) : first!;
  }
}
