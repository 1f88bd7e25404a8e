// The one IFB shared by every attachment on the node (container egress is redirected to it by
// `classify`, or on the clsact fallback by a mirred action on its filter, and HTB on it holds one
// class per attachment). The reference makes one IFB per pod
// plus a u32+mirred filter; one device and no filter is cheaper and leaves the veth's tc alone.
//
// Creating the IFB, choosing a class minor, and deleting the IFB when its last class goes must
// not race with another ADD/DEL running at the same moment: all of it happens under one flock.
// The IFB we create carries IFB_MARK as its alias; only such an IFB (or an earlier build's, see
// ownership.ts) is ever deleted. On an IFB named by ifbDevice that is not ours we add and remove
// only our root qdisc and classes.
import * as path from "node:path";
import { UndoStack } from "../../core/undo";
import { FileLock } from "../../kernel/flock";
import { type Link, type Qdisc, type Rtnl, isNetlinkError, rootQdisc, tcHandle, tcMajor, tcMinor } from "../../kernel/netlink/index";
import { RUN_DIR, openPrivateFile, runDir } from "../../kernel/rundir";
import { OUR_ROOT_KINDS, deleteClassTree, deleteHtbRoot, ensureRoot, gone } from "./htb";
import { GUEST_DEFCLS, IFB_MARK, foreignRootError, guestIfbDownError, ifbOwner, notIfbError, rootOwner } from "./ownership";
import { IFB_MAJOR, LEAF_STRIDE, parentMinor, pickMinor } from "./plan";

export const LOCK_FILE = path.join(RUN_DIR, "ebpf-bandwidth.lock");

/**
 * Run `fn` holding the IFB lock. The lock file is root's and 0600 in a 0700 directory
 * (kernel/rundir.ts): a lock anyone could open would let anyone stall every ebpf-bandwidth call.
 */
export function withLock<T>(fn: () => T): T {
  runDir();
  const lock = FileLock.adopt(openPrivateFile(LOCK_FILE), LOCK_FILE);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/**
 * The IFB's index, up and with our HTB root: created (marked as ours) if missing; an existing one
 * is used as ownership.ts allows, or refused with code 105 before anything is changed. `created`:
 * this call made the device (a failed ADD then removes it again, if it is idle).
 */
export function ensureIfb(nl: Rtnl, name: string): { ifindex: number; created: boolean } {
  const found = nl.findLink(name);
  if (found) return { ifindex: useExisting(nl, name, found), created: false };
  let link: Link;
  try {
    link = nl.addIfb({ name, alias: IFB_MARK }); // created and marked in one datagram (rtnl.ts)
  } catch (e) {
    if (isNetlinkError(e, "EEXIST")) return { ifindex: useExisting(nl, name, nl.getLink(name)), created: false }; // appeared since we looked
    throw e;
  }
  const ifindex = new UndoStack().runSync((undo) => {
    undo.push(`delete ${name}`, () => nl.deleteLink(link.index));
    nl.setUp(link.index);
    // Default class 0: a packet that reaches the IFB without one of our priorities passes unshaped.
    ensureRoot(nl, link.index, IFB_MAJOR, { kind: "htb", defaultClass: 0, r2q: 10 }, `ifbDevice ${name}`);
    return link.index;
  });
  return { ifindex, created: true };
}

function useExisting(nl: Rtnl, name: string, link: Link): number {
  const root = ifbRoot(nl, link.index);
  const owner = ifbOwner(link, root, IFB_MAJOR);
  if (owner === "not-ifb") throw notIfbError(name, link.kind);
  if (rootOwner(root, OUR_ROOT_KINDS, IFB_MAJOR) === "foreign") throw foreignRootError(`ifbDevice ${name}`, root!, "htb", IFB_MAJOR);
  // Setting someone else's device up would change it; an IFB that is down drops what reaches it.
  if (owner === "guest" && !link.up) throw guestIfbDownError(name);
  if (owner === "legacy") nl.setAlias(link.index, IFB_MARK);
  if (!link.up) nl.setUp(link.index);
  ensureRoot(nl, link.index, IFB_MAJOR, { kind: "htb", defaultClass: owner === "guest" ? GUEST_DEFCLS : 0, r2q: 10 }, `ifbDevice ${name}`, { root });
  return link.index;
}

/**
 * Attachment (parent) minors of our classes on the IFB; a leaf counts as its parent. A failed
 * listing is thrown, never "no classes" (releaseIfbClass would delete the IFB on that); the
 * kernel's dump of a device without classes, or that is gone, is simply empty.
 */
export function usedMinors(nl: Rtnl, ifindex: number): Set<number> {
  return new Set(nl.listClasses(ifindex).filter((c) => tcMajor(c.handle) === IFB_MAJOR).map((c) => parentMinor(tcMinor(c.handle))));
}

/**
 * A free class minor for the attachment named `key`. Asked class by class (parent, then its leaves'
 * minors, which an earlier build's layout may hold): O(1) requests per ADD, not a dump of every
 * pod's classes. The IFB lock keeps the answer true until the class is made.
 */
export const allocateMinor = (nl: Rtnl, ifindex: number, key: string) =>
  pickMinor(key, (m) => [m, m + LEAF_STRIDE, m + 2 * LEAF_STRIDE].some((minor) => nl.findClass(ifindex, tcHandle(IFB_MAJOR, minor)) !== undefined));

/**
 * The IFB's root when it is our HTB (one request), else what a dump finds there (the kernel's
 * default, another tool's root, or none): only then are the device's qdiscs listed.
 */
function ifbRoot(nl: Rtnl, ifindex: number): Qdisc | undefined {
  return nl.findRootQdisc(ifindex, tcHandle(IFB_MAJOR, 0)) ?? rootQdisc(nl.listQdiscs(ifindex), ifindex);
}

/** Remove one attachment's classes (the parent minor and its leaves at +LEAF_STRIDE, +2×). */
export const deleteIfbClasses = (nl: Rtnl, ifindex: number, minor: number) =>
  deleteClassTree(nl, ifindex, IFB_MAJOR, minor, [minor + 2 * LEAF_STRIDE, minor + LEAF_STRIDE]);

/**
 * Remove one attachment's classes. Our own IFB stays, with its root, when the last class goes: the
 * next pod's ADD finds it ready, and deleting a device makes the kernel wait for RCU grace periods
 * while it holds RTNL (≈ 13 ms of every last DEL here, and of every other rtnetlink user on the
 * node meanwhile). GC removes an idle one (removeIdleIfb). On an IFB that is not ours (ifbDevice)
 * our root goes with our last class, as before: we leave another's device as we found it.
 */
export function releaseIfbClass(nl: Rtnl, name: string, minor: number): void {
  const link = nl.findLink(name);
  if (!link || link.kind !== "ifb") return;
  deleteIfbClasses(nl, link.index, minor);
  // Our marked IFB is ours whatever its root (ifbOwner): no need to look at the root then.
  if (link.alias === IFB_MARK) return;
  if (ifbOwner(link, ifbRoot(nl, link.index), IFB_MAJOR) === "guest") removeIdleIfb(nl, name);
}

/**
 * Once no class of ours is left on the IFB: the IFB itself if it is ours (marked, or an earlier
 * build's), or on an IFB that is not ours only our root qdisc. For GC, a failed ADD that made the
 * IFB, and the last class on a guest IFB: an IFB of ours with none of our classes is used by
 * nobody, since ADD holds the IFB lock from creating it until everything is pinned.
 */
export function removeIdleIfb(nl: Rtnl, name: string): void {
  const link = nl.findLink(name);
  if (!link || link.kind !== "ifb") return;
  if (usedMinors(nl, link.index).size > 0) return;
  const root = rootQdisc(nl.listQdiscs(link.index), link.index);
  const rootIs = rootOwner(root, OUR_ROOT_KINDS, IFB_MAJOR);
  if (ifbOwner(link, root, IFB_MAJOR) === "guest") {
    if (rootIs === "ours") deleteHtbRoot(nl, link.index, IFB_MAJOR); // the kernel puts its default root back
    return;
  }
  // Our device, but another tool's root on it now: theirs to remove, and the device with it.
  if (rootIs === "foreign") return;
  try {
    nl.deleteLink(link.index);
  } catch (e) {
    if (!gone(e)) throw e;
  }
}
