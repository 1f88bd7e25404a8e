// What the allocator needs from the reservation store. Addresses are canonical strings (Go's
// IP.String(), which is also the file name on disk); owners are a reservation file's content.
// Implementations: disk-store.ts (the reference's on-disk format) and fake-store.ts (tests).
import { Teardown } from "../../core/undo";

export interface Store {
  /**
   * Reserve `ip` for the attachment, atomically: true when it was free and is now ours, false
   * when something already holds it. Records `ip` as range set `rangeID`'s last reserved address.
   */
  reserve(ip: string, id: string, ifname: string, rangeID: number): boolean;
  /** Remove a reservation; absent is fine. */
  release(ip: string): void;
  /** The owner recorded for `ip`, or undefined when it is free. */
  owner(ip: string): string | undefined;
  /**
   * The owner as stored right now, bypassing any cache (CHECK, and DEL before removing a file):
   * a reservation rewritten in place does not change the directory, so a cache cannot see it.
   * Undefined only when there is no reservation; a file that cannot be read throws.
   */
  reread(ip: string): string | undefined;
  /** Every reservation: address → owner. */
  list(): ReadonlyMap<string, string>;
  /** Addresses whose trimmed owner is exactly `owner` (an index: no scan of the whole store). */
  ownedBy(owner: string): readonly string[];
  /** The reference's `last_reserved_ip.<rangeID>`, if readable. */
  lastReservedIP(rangeID: number): string | undefined;
}

/** The owner string written for an attachment: `containerID\r\nifname` (the reference's LineBreak). */
export const ownerOf = (id: string, ifname: string) => `${id.trim()}\r\n${ifname}`;

export type Match = "exact" | "legacy" | undefined;

/**
 * Does a reservation's content belong to the attachment? As the reference: compare the trimmed
 * content with `id\r\nifname`; files written by old versions hold only the container ID.
 */
export function matchOwner(content: string, id: string, ifname: string): Match {
  const t = content.trim();
  if (t === ownerOf(id, ifname)) return "exact";
  if (t === id.trim()) return "legacy";
  return undefined;
}

/**
 * The attachment's reservations, with the reference's DEL rule: the exact matches, or — only if
 * there are none — the legacy ID-only ones.
 */
export function reservationsOf(store: Store, id: string, ifname: string): string[] {
  const exact = store.ownedBy(ownerOf(id, ifname));
  return [...(exact.length > 0 ? exact : store.ownedBy(id.trim()))];
}

/**
 * Release the attachment's reservations (DEL), each re-read first so only its own files go. Every
 * one is attempted; a file that could not be read or removed stays and is reported.
 */
export function releaseAttachment(store: Store, id: string, ifname: string): string[] {
  const parts = new Teardown();
  const gone: string[] = [];
  for (const ip of reservationsOf(store, id, ifname)) {
    parts.attempt(undefined, () => {
      if (!matchOwner(store.reread(ip) ?? "", id, ifname)) return;
      store.release(ip);
      gone.push(ip);
    });
  }
  parts.finish();
  return gone;
}
