// tc handles: 32-bit "major:minor" numbers, written in hex ("1:10" = 0x00010010). The one place
// that makes, takes apart, parses and prints them, and that knows which qdisc is a device's root.
import { TC_H_CLSACT, TC_H_INGRESS, TC_H_ROOT, TC_PARENT_EGRESS, TC_PARENT_INGRESS } from "./constants";

/** major:minor as the kernel stores it (TC_H_MAKE): a class id, a qdisc handle (minor 0), skb->priority. */
export const tcHandle = (major: number, minor: number) => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0;
export const tcMajor = (h: number) => (h >>> 16) & 0xffff;
export const tcMinor = (h: number) => h & 0xffff;

const named: Record<string, number> = {
  root: TC_H_ROOT, ingress: TC_H_INGRESS, clsact: TC_H_CLSACT, none: 0,
};

/** "1:10" → 0x10010, "1:" / "1:0" → 0x10000, ":5" → 5, "root"/"ingress"/"clsact"/"none". Numbers pass through. */
export function parseTcHandle(h: string | number): number {
  if (typeof h === "number") return h >>> 0;
  const k = h.trim().toLowerCase();
  if (k in named) return named[k];
  const m = /^([0-9a-f]{0,4}):([0-9a-f]{0,4})$/.exec(k);
  if (!m) throw new TypeError(`invalid tc handle "${h}" (want "major:minor" in hex)`);
  return tcHandle(parseInt(m[1] || "0", 16), parseInt(m[2] || "0", 16));
}

/** 0x10010 → "1:10"; special values by name (root, ingress, clsact filter parents). */
export function formatTcHandle(h: number): string {
  const v = h >>> 0;
  if (v === TC_H_ROOT) return "root";
  if (v === TC_H_INGRESS) return "ingress";
  if (v === TC_PARENT_INGRESS) return "ffff:fff2";
  if (v === TC_PARENT_EGRESS) return "ffff:fff3";
  if (v === 0) return "none";
  return `${tcMajor(v).toString(16)}:${tcMinor(v).toString(16)}`;
}

/** A qdisc's handle as tc prints it: the major only ("1:"). */
export const formatQdiscHandle = (h: number) => `${tcMajor(h).toString(16)}:`;

/** Is this qdisc a device's root (parent TC_H_ROOT)? */
export const isRootQdisc = (q: { parent: number }) => q.parent === TC_H_ROOT;

/** The root qdisc of `ifindex` in a dump; none shown for a device that is down, or the noop qdisc. */
export const rootQdisc = <Q extends { index: number; parent: number }>(qdiscs: readonly Q[], ifindex: number): Q | undefined =>
  qdiscs.find((q) => q.index === ifindex && isRootQdisc(q));
