// An in-memory Store for unit tests of the allocator: same semantics as the disk store, no files.
import { ownerOf, type Store } from "./store";

export class FakeStore implements Store {
  readonly reservations = new Map<string, string>();
  readonly last = new Map<number, string>();

  constructor(initial: Record<string, string> = {}) {
    for (const [ip, owner] of Object.entries(initial)) this.reservations.set(ip, owner);
  }

  reserve(ip: string, id: string, ifname: string, rangeID: number): boolean {
    if (this.reservations.has(ip)) return false;
    this.reservations.set(ip, ownerOf(id, ifname));
    this.last.set(rangeID, ip);
    return true;
  }

  release(ip: string): void {
    this.reservations.delete(ip);
  }

  owner(ip: string): string | undefined {
    return this.reservations.get(ip);
  }

  reread(ip: string): string | undefined {
    return this.reservations.get(ip);
  }

  list(): ReadonlyMap<string, string> {
    return this.reservations;
  }

  ownedBy(owner: string): readonly string[] {
    return [...this.reservations].filter(([, c]) => c.trim() === owner).map(([ip]) => ip);
  }

  lastReservedIP(rangeID: number): string | undefined {
    return this.last.get(rangeID);
  }
}
