// The kernel side of loopback: `lo` of a container's network namespace, over a netlink socket
// opened inside it.
import { CniError, Code } from "../../core/errors";
import { Rtnl } from "../../kernel/netlink/index";
import { LO, type LoAddr, assertOnlyLoopback } from "./result";

const addrsOf = (nl: Rtnl, index: number): LoAddr[] => nl.listAddrs({ link: index }).map((a) => ({ family: a.family, cidr: a.cidr, address: a.address }));

function loIndex(nl: Rtnl): number {
  const lo = nl.findLink(LO);
  if (!lo) throw new CniError(Code.InvalidNetNS, "the network namespace has no lo interface");
  return lo.index;
}

/** Bring lo up and return its addresses (the kernel adds 127.0.0.1/8 and ::1/128 as it comes up). */
export function bringUp(netns: string): LoAddr[] {
  return Rtnl.with(netns, (nl) => {
    const index = loIndex(nl);
    // Checked before anything changes, then again: an address added in between is refused too.
    assertOnlyLoopback(addrsOf(nl, index));
    nl.setUp(index);
    const addrs = addrsOf(nl, index);
    assertOnlyLoopback(addrs);
    return addrs;
  });
}

export interface LoState {
  up: boolean;
  addrs: LoAddr[];
}

export function inspect(netns: string): LoState {
  return Rtnl.with(netns, (nl) => {
    const link = nl.findLink(LO);
    if (!link) throw new CniError(Code.CheckFailed, "the network namespace has no lo interface");
    return { up: link.up, addrs: addrsOf(nl, link.index) };
  });
}
