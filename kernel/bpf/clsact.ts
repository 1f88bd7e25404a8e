// Fallback attach path for kernels without TCX (< 6.6, e.g. Debian 12's 6.1): a clsact qdisc with
// a cls_bpf filter in direct-action mode, through our rtnetlink layer. Unlike TCX links, a filter
// holds its program by itself (no pin needed) and is removed by deleting the filter; it is shared
// state on the device, so we only ever touch the filter at our own priority/handle and never
// remove a clsact qdisc that still has other filters (other tc users, kubernetes/plugins #894).
import { Rtnl, isNetlinkError } from "../netlink/index";
import type { BpfProgram } from "./handles";
import type { Direction } from "./tcx";

/** Our filter's default "pref": high enough to stay out of the way of hand-made filters at 1. */
export const CLSACT_PRIORITY = 0xc5ce;
export const CLSACT_HANDLE = 1;

export interface ClsactOptions {
  /** Device index or name, in `netns` (default: the current namespace). */
  link: number | string;
  direction: Direction;
  netns?: string;
  priority?: number;
  handle?: number;
}

export interface ClsactAttachment {
  direction: Direction;
  priority: number;
  handle: number;
  progId?: number;
}

function withRtnl<T>(netns: string | undefined, fn: (nl: Rtnl) => T): T {
  const nl = Rtnl.open(netns);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

/** Add clsact if missing, then add or replace our cls_bpf filter (direct-action) with `prog`. */
export function attachClsact(prog: BpfProgram, o: ClsactOptions): ClsactAttachment {
  const priority = o.priority ?? CLSACT_PRIORITY;
  const handle = o.handle ?? CLSACT_HANDLE;
  return withRtnl(o.netns, (nl) => {
    try {
      nl.addQdisc(o.link, { kind: "clsact" });
    } catch (e) {
      if (!isNetlinkError(e, "EEXIST")) throw e;
    }
    nl.replaceBpfFilter(o.link, { parent: o.direction, fd: prog.fd, name: prog.name, directAction: true, priority, handle });
    const mine = nl.listFilters(o.link, o.direction).find((f) => f.priority === priority && f.handle === handle);
    return { direction: o.direction, priority, handle, progId: mine?.bpf?.id };
  });
}

/** Filters on a device's clsact hook (empty if there is no clsact qdisc). */
export function listClsact(o: Omit<ClsactOptions, "priority" | "handle">) {
  return withRtnl(o.netns, (nl) => {
    try {
      return nl.listFilters(o.link, o.direction);
    } catch (e) {
      if (isNetlinkError(e, "EINVAL") || isNetlinkError(e, "ENOENT")) return [];
      throw e;
    }
  });
}

/**
 * Delete our filter; then delete the clsact qdisc if nothing else is left on either hook.
 * Idempotent: a missing filter, qdisc or device is success (DEL after the veth is gone).
 */
export function detachClsact(o: ClsactOptions): void {
  const priority = o.priority ?? CLSACT_PRIORITY;
  const handle = o.handle ?? CLSACT_HANDLE;
  const gone = (e: unknown) => isNetlinkError(e, "ENOENT") || isNetlinkError(e, "ENODEV") || isNetlinkError(e, "EINVAL");
  withRtnl(o.netns, (nl) => {
    try {
      nl.deleteFilter(o.link, { parent: o.direction, priority, handle, kind: "bpf" });
    } catch (e) {
      if (!gone(e)) throw e;
      return;
    }
    try {
      const left = nl.listFilters(o.link, "ingress").length + nl.listFilters(o.link, "egress").length;
      if (left === 0) nl.deleteQdisc(o.link, "clsact");
    } catch (e) {
      if (!gone(e)) throw e;
    }
  });
}
