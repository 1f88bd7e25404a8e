// A range set: one or more disjoint ranges of one family, from which one address is handed out
// per ADD. The iterator reproduces the reference's round-robin order exactly, so a node can move
// between the two plugins and keep the same allocation sequence.
import { configError } from "../../core/errors";
import { fmt, isExcluded, overlaps, rangeContains, rangeString, type Range } from "./range";
import type { IP } from "../../core/ip";

export type RangeSet = Range[];

export const rangeSetString = (s: RangeSet) => s.map(rangeString).join(",");
export const rangeFor = (s: RangeSet, a: IP) => s.find((r) => rangeContains(r, a));
export const setsOverlap = (a: RangeSet, b: RangeSet) => a.some((r1) => b.some((r2) => overlaps(r1, r2)));

export function validateRangeSet(s: RangeSet, path: string): void {
  if (s.length === 0) throw configError(`invalid "${path}"`, "empty range set");
  const fam = s[0]!.family;
  s.forEach((r, i) => {
    if (r.family !== fam) throw configError(`invalid "${path}[${i}]"`, `mixed address families in one range set (IPv${fam} and IPv${r.family})`);
  });
  for (let i = 0; i < s.length; i++) {
    for (let j = i + 1; j < s.length; j++) {
      if (overlaps(s[i]!, s[j]!)) {
        throw configError(`invalid "${path}[${j}]"`, `range ${rangeString(s[j]!)} overlaps ${path}[${i}] (${rangeString(s[i]!)})`);
      }
    }
  }
}

export interface Candidate {
  value: bigint;
  range: Range;
}

/**
 * The reference's RangeIter: start after `last` (last_reserved_ip.N) when the set contains it,
 * else at the first range's rangeStart; walk every range once, wrapping around, skipping the
 * gateway (and, beyond the reference, network and broadcast addresses); stop when back at the
 * first candidate.
 */
export function* iterate(set: RangeSet, last: IP | undefined): Generator<Candidate> {
  let idx = 0;
  let cur: bigint | undefined;
  let startAt: bigint | undefined;
  const lastIdx = last ? set.findIndex((r) => rangeContains(r, last)) : -1;
  if (lastIdx >= 0) {
    idx = lastIdx;
    cur = last!.value;
  } else {
    startAt = set[0]!.start;
  }
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) {
      cur = r.start;
      startAt = cur;
    } else {
      if (cur === r.end) {
        idx = (idx + 1) % set.length;
        r = set[idx]!;
        cur = r.start;
      } else {
        cur += 1n;
      }
      if (startAt === undefined) startAt = cur;
      else if (cur === startAt) return;
    }
    if (!isExcluded(r, cur)) yield { value: cur, range: r };
  }
}

export { fmt };
