// HTB classes with a short leaf (a bfifo, or a segmenting TBF: plan.ts segmentBytes), on the host
// veth (container ingress) or the shared IFB (container egress), through our rtnetlink layer.
import { type Psched, type Qdisc, type Rtnl, type TcChange, type TcClass, formatQdiscHandle, isNetlinkError, psched, rootQdisc, tcHandle, xmitBytes, xmitTicks } from "../../kernel/netlink/index";
import type { FqQdiscOptions, HtbQdiscOptions } from "../../kernel/netlink/tc";
import { foreignRootError, rootOwner } from "./ownership";
import { type ClassPlan, type FqPlan, SEGMENT_RATE_BITS, htbBurst, htbQuantum } from "./plan";

/**
 * A byte-limited leaf queue under class `parent`; the kernel picks its handle. With `segment`, a
 * TBF whose bucket is that many bytes (its inner queue a bfifo of the same limit): it splits larger
 * GSO packets into their segments on enqueue.
 */
function leafQueue(parent: number, limitBytes: number, segment?: number): TcChange {
  if (segment) return { qdisc: { kind: "tbf", rate: SEGMENT_RATE_BITS, burst: segment, limit: limitBytes, parent } };
  return { qdisc: { kind: "bfifo", limit: limitBytes, parent } };
}

export const gone = (e: unknown) => isNetlinkError(e, "ENOENT") || isNetlinkError(e, "ENODEV") || isNetlinkError(e, "EINVAL");

/**
 * Our root qdisc (`q`, with handle major:) on `ifindex`: reused when it is there, added where the
 * kernel's default root is; another tool's root is refused with code 105 before anything changes
 * (ownership.ts). `device` names the device in that error (default: its name).
 */
export function ensureRoot(nl: Rtnl, ifindex: number, major: number, q: HtbQdiscOptions | FqQdiscOptions, device?: string, seen?: { root: Qdisc | undefined }): void {
  const refuse = (root: Qdisc) => foreignRootError(device ?? nl.findLink(ifindex)?.name ?? `ifindex ${ifindex}`, root, q.kind, major);
  // Add, not replace: the kernel grafts over its own default root (handle 0) but answers EEXIST
  // for any other, so a root another tool adds after our look is never replaced either.
  const add = () => nl.addQdisc(ifindex, { ...q, handle: tcHandle(major, 0) });
  if (!seen) {
    // Most ADDs find the kernel's default root (a fresh veth): add at once, and look (a dump of
    // every qdisc in the namespace) only when something else is there.
    try {
      add();
      return;
    } catch (e) {
      if (!isNetlinkError(e, "EEXIST")) throw e;
    }
  }
  // `seen`: the caller's own look at the root, just taken under the same lock (no second dump).
  const root = seen ? seen.root : rootQdisc(nl.listQdiscs(ifindex), ifindex);
  const owner = rootOwner(root, OUR_ROOT_KINDS, major);
  if (owner === "foreign") throw refuse(root!);
  if (owner === "ours" && root!.kind === q.kind) return;
  // Ours of the other kind (htb ↔ fq, a previous attachment's): the kernel changes a qdisc's
  // parameters in place but not its kind.
  if (owner === "ours") nl.deleteQdisc(ifindex, {});
  try {
    add();
  } catch (e) {
    const now = isNetlinkError(e, "EEXIST") ? rootQdisc(nl.listQdiscs(ifindex), ifindex) : undefined;
    if (now && rootOwner(now, OUR_ROOT_KINDS, major) === "foreign") throw refuse(now);
    throw e;
  }
}

/** Root HTB with our handle on `ifindex` (see ensureRoot). */
export function ensureHtbRoot(nl: Rtnl, ifindex: number, major: number, defaultMinor: number): void {
  ensureRoot(nl, ifindex, major, { kind: "htb", defaultClass: defaultMinor, r2q: 10 });
}

/** EDT: fq as the root on the host veth (it enforces skb->tstamp); see ensureRoot. */
export function ensureFqRoot(nl: Rtnl, ifindex: number, fq: FqPlan): void {
  ensureRoot(nl, ifindex, fq.major, { kind: "fq", plimit: fq.plimit, flowPlimit: fq.flowPlimit, horizonUs: fq.horizonUs, horizonDrop: true });
}

/** CHECK: the fq root is there with our handle. */
export function fqMatches(nl: Rtnl, ifindex: number, fq: FqPlan): string | undefined {
  const root = rootQdisc(nl.listQdiscs(ifindex), ifindex);
  const want = tcHandle(fq.major, 0);
  if (root?.kind !== "fq" || root.handle !== want) return `root qdisc is ${root?.kind ?? "none"}, want fq ${formatQdiscHandle(want)}`;
  return undefined;
}

/**
 * Add or update the attachment's class (rate = ceil = cap). Without leaves it gets a byte-limited
 * leaf queue; with leaves it is their parent: `bulk` (guaranteed cap − small share, prio 1) and
 * `small` (guaranteed small share, prio 0), both may borrow up to the cap, so the parent's rate
 * bounds their sum and small packets never queue behind bulk ones.
 */
export function setClass(nl: Rtnl, ifindex: number, c: ClassPlan): void {
  const classid = tcHandle(c.major, c.minor);
  const capBurst = htbBurst(c.rateBits, c.burst); // cburst of every class: they all borrow up to the cap
  const changes: TcChange[] = [{
    class: { classid, parent: tcHandle(c.major, 0), rate: c.rateBits, ceil: c.rateBits, burst: capBurst, cburst: capBurst, quantum: htbQuantum(c.rateBits) },
  }];
  if (!c.leaves) changes.push(leafQueue(classid, c.queue, c.segment));
  else {
    const l = c.leaves;
    const bulk = tcHandle(c.major, l.bulk);
    const small = tcHandle(c.major, l.small);
    const bulkRate = Math.max(8, c.rateBits - l.smallRateBits);
    const smallBurst = htbBurst(l.smallRateBits, Math.max(16 * 1024, Math.floor(l.smallRateBits / 8 / 100)));
    changes.push(
      { class: { classid: bulk, parent: classid, rate: bulkRate, ceil: c.rateBits, burst: htbBurst(bulkRate, c.burst), cburst: capBurst, prio: 1, quantum: htbQuantum(c.rateBits) } },
      leafQueue(bulk, c.queue, c.segment),
      { class: { classid: small, parent: classid, rate: l.smallRateBits, ceil: c.rateBits, burst: smallBurst, cburst: capBurst, prio: 0, quantum: htbQuantum(c.rateBits) } },
      leafQueue(small, l.smallQueue),
    );
  }
  // One datagram: the kernel applies them in order (parent before its leaves).
  nl.replaceTc(ifindex, changes);
}

/** Our HTB class major:minor on `ifindex` (one get, not a dump of the device's classes), or undefined; a missing device too. */
export function findClass(nl: Rtnl, ifindex: number, major: number, minor: number): TcClass | undefined {
  try {
    const c = nl.findClass(ifindex, tcHandle(major, minor));
    return c?.kind === "htb" ? c : undefined;
  } catch (e) {
    if (gone(e)) return undefined;
    throw e;
  }
}

/** Delete an attachment's classes: leaves first (a parent with children cannot go), then the class. */
export function deleteClassTree(nl: Rtnl, ifindex: number, major: number, minor: number, leaves: number[]): void {
  for (const m of leaves) deleteClass(nl, ifindex, major, m);
  deleteClass(nl, ifindex, major, minor);
}

/** Delete a class (its leaf goes with it). Missing class or device is fine. */
export function deleteClass(nl: Rtnl, ifindex: number, major: number, minor: number): void {
  try {
    nl.deleteClass(ifindex, tcHandle(major, minor));
  } catch (e) {
    if (!gone(e)) throw e;
  }
}

/** The root kinds we install with our handle: HTB (htb mode) or fq (EDT mode). */
export const OUR_ROOT_KINDS = ["htb", "fq"];

/**
 * Delete the root qdisc only if it is ours, HTB or fq by handle (never someone else's). Missing
 * device is fine. One look at the root (not a dump of every qdisc in the namespace), and the
 * delete names our handle: the kernel refuses it (EINVAL) if the root changed in between.
 */
export function deleteHtbRoot(nl: Rtnl, ifindex: number, major: number): boolean {
  try {
    const root = nl.findRootQdisc(ifindex, tcHandle(major, 0));
    if (!root || !OUR_ROOT_KINDS.includes(root.kind)) return false;
    nl.deleteQdisc(ifindex, { handle: tcHandle(major, 0) });
    return true;
  } catch (e) {
    if (!gone(e)) throw e;
    return false;
  }
}

/**
 * Rates compare exactly (bytes/s × 8). Bursts go through psched ticks, which tc's formula truncates
 * to whole microseconds (at 100 Gbit/s 64 KiB comes back as 62 400 bytes, above 524 Gbit/s as 0):
 * compare with what the kernel gives back for the burst we set, allowing for rounding.
 */
export function classMatches(c: TcClass | undefined, want: ClassPlan, p: Psched = psched()): string | undefined {
  if (!c?.htb) return "class missing";
  const rateBytes = Math.floor(want.rateBits / 8);
  if (c.htb.rate !== rateBytes * 8) return `rate ${c.htb.rate} bit/s, want ${want.rateBits}`;
  if (c.htb.ceil !== c.htb.rate) return `ceil ${c.htb.ceil} bit/s, want ${want.rateBits}`;
  const set = htbBurst(want.rateBits, want.burst, p);
  const back = xmitBytes(rateBytes, xmitTicks(rateBytes, set, p), p);
  if (Math.abs(c.htb.burst - back) > Math.max(64, back * 0.02)) return `burst ${c.htb.burst} bytes, want ${set}`;
  return undefined;
}
