// An in-memory Store for the allocator's unit tests, with the disk store's semantics: owners are
// matched and listed trimmed, and a blank reservation (debris of a crash) is free to reserve
// again. test/integration/host-local-store-contract.test.ts runs the same tests on both.
import { ownerOf, type Store } from "./store";

export class FakeStore implements Store {
  /** address → content, as a reservation file would hold it. */
  readonly reservations = new Map<string, string>();
  readonly last = new Map<number, string>();

  constructor(initial: Record<string, string> = {}) {
    for (const [ip, owner] of Object.entries(initial)) this.reservations.set(ip, owner);
  }

  reserve(ip: string, id: string, ifname: string, rangeID: number): boolean {
    if (this.owner(ip) !== undefined) return false;
    this.reservations.set(ip, ownerOf(id, ifname));
    this.last.set(rangeID, ip);
    return true;
  }

  release(ip: string): void {
    this.reservations.delete(ip);
  }

  owner(ip: string): string | undefined {
    const c = this.reservations.get(ip)?.trim();
    return c === "" ? undefined : c;
  }

  reread(ip: string): string | undefined {
    const c = this.reservations.get(ip);
    return c === undefined || c.trim() === "" ? undefined : c;
  }

  list(): ReadonlyMap<string, string> {
    return new Map([...this.reservations].map(([ip, c]) => [ip, c.trim()]));
  }

  ownedBy(owner: string): readonly string[] {
    return [...this.reservations].filter(([, c]) => c.trim() === owner).map(([ip]) => ip);
  }

  lastReservedIP(rangeID: number): string | undefined {
    return this.last.get(rangeID);
  }
}
