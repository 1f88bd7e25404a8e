// The one IFB shared by every attachment on the node (container egress is redirected to it by
// `classify`, or on the clsact fallback by a mirred action on its filter, and HTB on it holds one
// class per attachment). The reference makes one IFB per pod
// plus a u32+mirred filter; one device and no filter is cheaper and leaves the veth's tc alone.
//
// Creating the IFB, choosing a class minor, and deleting the IFB when its last class goes must
// not race with another ADD/DEL running at the same moment: all of it happens under one flock.
import * as fs from "node:fs";
import { withFileLock } from "../../kernel/flock";
import { type Rtnl, isNetlinkError } from "../../kernel/netlink/index";
import { deleteClassTree, ensureHtbRoot, gone } from "./htb";
import { IFB_MAJOR, LEAF_STRIDE, majorOf, minorOf, parentMinor, pickMinor } from "./plan";

export const LOCK_FILE = "/run/tscni/ebpf-bandwidth.lock";

export function withLock<T>(fn: () => T): T {
  fs.mkdirSync("/run/tscni", { recursive: true, mode: 0o755 });
  return withFileLock(LOCK_FILE, fn);
}

/** The IFB's index, creating it (up, HTB root, no default class) if needed. */
export function ensureIfb(nl: Rtnl, name: string): number {
  let link = nl.findLink(name);
  if (!link) {
    try {
      link = nl.addIfb({ name });
    } catch (e) {
      if (!isNetlinkError(e, "EEXIST")) throw e;
      link = nl.getLink(name);
    }
  } else if (link.kind !== "ifb") {
    throw new Error(`${name} exists and is not an ifb device (kind ${link.kind ?? "unknown"})`);
  }
  if (!link.up) nl.setUp(link.index);
  // Default class 0: a packet that reaches the IFB without one of our priorities passes unshaped.
  ensureHtbRoot(nl, link.index, IFB_MAJOR, 0);
  return link.index;
}

/** Attachment (parent) minors of our classes on the IFB; a leaf counts as its parent. */
export function usedMinors(nl: Rtnl, ifindex: number): Set<number> {
  try {
    return new Set(nl.listClasses(ifindex).filter((c) => majorOf(c.handle) === IFB_MAJOR).map((c) => parentMinor(minorOf(c.handle))));
  } catch (e) {
    if (gone(e)) return new Set();
    throw e;
  }
}

export const allocateMinor = (nl: Rtnl, ifindex: number, key: string) => pickMinor(key, usedMinors(nl, ifindex));

/** Remove one attachment's classes (the parent minor and its leaves at +LEAF_STRIDE, +2×). */
export const deleteIfbClasses = (nl: Rtnl, ifindex: number, minor: number) =>
  deleteClassTree(nl, ifindex, IFB_MAJOR, minor, [minor + 2 * LEAF_STRIDE, minor + LEAF_STRIDE]);

/** Remove one attachment's classes; then the IFB itself when no class is left (we alone used it). */
export function releaseIfbClass(nl: Rtnl, name: string, minor: number | undefined): void {
  const link = nl.findLink(name);
  if (!link || link.kind !== "ifb") return;
  if (minor) deleteIfbClasses(nl, link.index, minor);
  if (usedMinors(nl, link.index).size === 0) {
    try {
      nl.deleteLink(link.index);
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }
}
