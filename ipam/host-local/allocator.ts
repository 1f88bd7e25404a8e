// Allocation logic, free of I/O: which address each range set hands out, given a Store. The
// order and the duplicate rule are the reference's (allocator.go), so both plugins pick the same
// address from the same store.
import { CniError, Code } from "../../core/errors";
import { formatIP, parseIP, type IP } from "../../core/ip";
import { isExcluded, usableCount, type Range } from "./range";
import { iterate, rangeFor, rangeSetString, type RangeSet } from "./range-set";
import { ownerOf, type Store } from "./store";

export interface Allocation {
  ip: IP;
  range: Range;
  rangeID: number;
}

/** One address from range set `rangeID` for the attachment: the requested one, or the next free one. */
export function allocate(store: Store, set: RangeSet, rangeID: number, id: string, ifname: string, requested?: IP): Allocation {
  if (requested) {
    // config.ts already checked that it lies in this set and is not the gateway.
    const range = rangeFor(set, requested)!;
    const text = formatIP(requested);
    if (!store.reserve(text, id, ifname, rangeID)) {
      throw new CniError(Code.AddressInUse, `requested address ${text} is already reserved`, `held by ${JSON.stringify(store.owner(text) ?? "")}`);
    }
    return { ip: requested, range, rangeID };
  }
  // The spec forbids two ADDs for one attachment; like the reference, refuse when the attachment
  // already holds an address of this set (legacy ID-only files count).
  for (const ip of [...store.ownedBy(ownerOf(id, ifname)), ...store.ownedBy(id.trim())]) {
    const a = parseIP(ip);
    if (a && rangeFor(set, a)) {
      throw new CniError(Code.AddressInUse, `${ip} has been allocated to ${id}, duplicate allocation is not allowed`);
    }
  }
  const lastText = store.lastReservedIP(rangeID);
  const last = lastText === undefined ? undefined : parseIP(lastText.trim());
  for (const c of iterate(set, last)) {
    const ip: IP = { family: c.range.family, value: c.value };
    const text = formatIP(ip);
    // The owner lookup is only a shortcut; reserve() is the authoritative, atomic test.
    if (store.owner(text) !== undefined) continue;
    if (store.reserve(text, id, ifname, rangeID)) return { ip, range: c.range, rangeID };
  }
  throw new CniError(Code.AddressesExhausted, `no IP addresses available in range set: ${rangeSetString(set)}`);
}

/**
 * One address per range set, all or nothing: when a later set fails, the addresses reserved by
 * this call are released (only those — the reference releases every file of the attachment).
 */
export function allocateAll(store: Store, sets: RangeSet[], requested: (IP | undefined)[], id: string, ifname: string): Allocation[] {
  const done: Allocation[] = [];
  try {
    sets.forEach((set, i) => done.push(allocate(store, set, i, id, ifname, requested[i])));
    return done;
  } catch (e) {
    for (const a of done) store.release(formatIP(a.ip));
    if (e instanceof CniError) throw new CniError(e.code, `failed to allocate for range ${done.length}: ${e.msg}`, e.details);
    throw e;
  }
}

/** Addresses of the set still free (STATUS). Counts exactly even for huge IPv6 ranges. */
export function freeCount(store: Store, set: RangeSet): bigint {
  let free = 0n;
  for (const r of set) free += usableCount(r);
  for (const ip of store.list().keys()) {
    const a = parseIP(ip);
    if (!a) continue;
    const r = rangeFor(set, a);
    if (r && !isExcluded(r, a.value) && store.owner(ip) !== undefined) free -= 1n;
  }
  return free;
}
