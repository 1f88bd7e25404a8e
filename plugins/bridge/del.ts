// DEL: idempotent. A missing namespace or interface is success. Masquerade state is removed by
// name, so it goes even when CNI_NETNS is empty or the container is gone (the reference leaks it
// then: containernetworking/plugins #810). Every part is attempted; every failure is reported, the
// first as the error (core/undo.ts Teardown).
import * as fs from "node:fs";
import { delegate } from "../../core/delegate";
import { CniError, Code } from "../../core/errors";
import type { CmdArgs } from "../../core/plugin";
import { Teardown, traceStep } from "../../core/undo";
import { native } from "../../kernel/native";
import { withNetns } from "../../kernel/netns";
import { NETLINK_ROUTE, NetlinkError, NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR } from "../../kernel/netlink/index";
import { deleteLinkRequest } from "../../kernel/netlink/link";
import { encodeMessage, parseAck, parseMessages } from "../../kernel/netlink/message";
import { parseBridgeConfig } from "./config";
import { teardownMasq, teardownSpoofCheck } from "./netfilter";

/**
 * Delete the container interface, and so its veth peer; nothing to do if the namespace or the link
 * is gone. The kernel spends 10–30 ms inside that one request (unregistering both ends waits for
 * RCU grace periods), so it is written from libuv's thread pool and its ACK read afterwards: the
 * IPAM DEL and the netfilter teardown run meanwhile. The socket is opened in the container's
 * namespace, so which thread writes to it does not matter.
 */
export function startDeleteContainerLink(netns: string, ifname: string): Promise<void> {
  let fd: number;
  try {
    fd = withNetns(netns, () => native().netlinkOpen(NETLINK_ROUTE, 10_000));
  } catch (e) {
    if (e instanceof CniError && e.code === Code.InvalidNetNS) return Promise.resolve(); // namespace already gone
    return Promise.reject(e);
  }
  const req = deleteLinkRequest(ifname);
  const seq = 1;
  return new Promise<void>((resolve, reject) => {
    fs.write(fd, encodeMessage(req.type, NLM_F_REQUEST | NLM_F_ACK, seq, req.payload), (err) => {
      try {
        if (err) throw new NetlinkError({ errno: Math.abs(err.errno ?? 5), op: "RTM_DELLINK", target: ifname, syscall: "write" });
        const ack = readAck(fd, seq);
        if (ack.errno !== 0) {
          const e = new NetlinkError({ errno: ack.errno, op: "RTM_DELLINK", target: ifname, ...(ack.extack ? { extack: ack.extack } : {}) });
          if (e.code !== "ENODEV") throw e;
        }
        resolve();
      } catch (e) {
        reject(e);
      } finally {
        fs.closeSync(fd);
      }
    });
  });
}

/** Read until the ACK of request `seq` (a DELLINK answers with nothing else). */
function readAck(fd: number, seq: number): ReturnType<typeof parseAck> {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const n = native().netlinkRecv(fd, buf);
    for (const m of parseMessages(buf, Math.min(n, buf.length))) {
      if (m.seq === seq && m.type === NLMSG_ERROR) return parseAck(m);
    }
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
    try {
      linkDeleted = startDeleteContainerLink(args.netns, args.ifname);
    } catch (e) {
      linkDeleted = Promise.reject(e);
    }
    linkDeleted.catch(() => {}); // handled below; no unhandled-rejection warning meanwhile
  }
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    await parts.attemptAsync(`IPAM plugin "${type}" DEL`, () => delegate(type, "DEL", args.stdin, args, cfg.cniVersion));
  }
  const target = { network: cfg.name, containerID: args.containerID, ifname: args.ifname };
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
