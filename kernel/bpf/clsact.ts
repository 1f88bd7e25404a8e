// Fallback attach path for kernels without TCX (< 6.6, e.g. Debian 12's 6.1): a clsact qdisc with
// a cls_bpf filter in direct-action mode, through our rtnetlink layer. Unlike TCX links, a filter
// holds its program by itself (no pin needed) and is removed by deleting the filter; it is shared
// state on the device, so we only ever touch the filter at our own priority/handle and never
// remove a clsact qdisc that still has other filters (other tc users, containernetworking/plugins #894).
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
  /** Give the filter an act_mirred redirect to this device instead of direct-action (see tc.ts). */
  mirredRedirect?: number;
  /** A socket to use (in `netns`'s namespace) instead of opening one: one per ADD, not one per call. */
  nl?: Rtnl;
}

export interface ClsactAttachOptions extends ClsactOptions {
  /** The caller just made or found the clsact qdisc (its other hook's filter): do not try to add it. */
  qdiscThere?: boolean;
}

/** Run `fn` on `o.nl`, or on a socket opened for the call in `o.netns`. */
const withRtnl = <T>(o: { nl?: Rtnl; netns?: string }, fn: (nl: Rtnl) => T): T => (o.nl ? fn(o.nl) : Rtnl.with(o.netns, fn));

export interface ClsactAttachment {
  direction: Direction;
  priority: number;
  handle: number;
  progId?: number;
  /** This call created the clsact qdisc (so a later detach may remove it). */
  createdQdisc: boolean;
}

/**
 * Add clsact if missing, then add or replace our cls_bpf filter with `prog`: direct-action, or
 * with `mirredRedirect` a classic filter whose match (-1) runs a mirred redirect.
 */
export function attachClsact(prog: BpfProgram, o: ClsactAttachOptions): ClsactAttachment {
  const priority = o.priority ?? CLSACT_PRIORITY;
  const handle = o.handle ?? CLSACT_HANDLE;
  return withRtnl(o, (nl) => {
    let createdQdisc = false;
    if (!o.qdiscThere) {
      try {
        nl.addQdisc(o.link, { kind: "clsact" });
        createdQdisc = true;
      } catch (e) {
        if (!isNetlinkError(e, "EEXIST")) throw e;
      }
    }
    try {
      nl.replaceBpfFilter(o.link, { parent: o.direction, fd: prog.fd, name: prog.name, directAction: !o.mirredRedirect, priority, handle, mirredRedirect: o.mirredRedirect });
    } catch (e) {
      if (createdQdisc) {
        try {
          nl.deleteQdisc(o.link, "clsact");
        } catch {
          /* keep the first error */
        }
      }
      throw e;
    }
    // The filter holds the program we gave it: its id is the program's (no dump to read it back).
    return { direction: o.direction, priority, handle, progId: prog.id(), createdQdisc };
  });
}

/**
 * Filters on a device's clsact hook. The kernel's dump is empty when there is no clsact qdisc (or
 * no such ifindex); every error it does return (an interrupted dump, ENODEV for a name) is thrown,
 * never read as "no filters".
 */
export function listClsact(o: Omit<ClsactOptions, "priority" | "handle">) {
  return withRtnl(o, (nl) => nl.listFilters(o.link, o.direction));
}

export interface ClsactDetachOptions extends ClsactOptions {
  /**
   * Delete the filter only if it runs this program. An ifindex recorded earlier may belong to a
   * different device by now (the veth was deleted and the number reused): never touch that
   * device's filter at the same priority unless it is provably ours.
   */
  progId?: number;
  /** Delete the clsact qdisc when no filter is left on either hook (default true). Pass false
   *  when the qdisc was there before us (someone else's, even if empty now). */
  removeQdisc?: boolean;
}

/**
 * Delete our filter; then delete the clsact qdisc if nothing else is left on either hook.
 * Idempotent: a missing filter, qdisc or device is success (DEL after the veth is gone).
 * Returns whether our filter was found and deleted.
 */
export function detachClsact(o: ClsactDetachOptions): boolean {
  const priority = o.priority ?? CLSACT_PRIORITY;
  const handle = o.handle ?? CLSACT_HANDLE;
  const gone = (e: unknown) => isNetlinkError(e, "ENOENT") || isNetlinkError(e, "ENODEV") || isNetlinkError(e, "EINVAL");
  return withRtnl(o, (nl) => {
    try {
      if (o.progId !== undefined) {
        const f = nl.listFilters(o.link, o.direction).find((x) => x.priority === priority && x.handle === handle);
        if (!f || f.bpf?.id !== o.progId) return false;
      }
      nl.deleteFilter(o.link, { parent: o.direction, priority, handle, kind: "bpf" });
    } catch (e) {
      if (!gone(e)) throw e;
      return false;
    }
    if (o.removeQdisc === false) return true;
    try {
      const left = nl.listFilters(o.link, "ingress").length + nl.listFilters(o.link, "egress").length;
      if (left === 0) nl.deleteQdisc(o.link, "clsact");
    } catch (e) {
      if (!gone(e)) throw e;
    }
    return true;
  });
}
