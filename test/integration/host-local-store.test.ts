// The disk store directly (no processes): the cache is updated incrementally across many
// open/close cycles and must always equal what a full rescan of the directory finds; it is
// trusted after our own changes and distrusted after anyone else's.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CACHE_DIR, DiskStore, withStore } from "../../ipam/host-local/disk-store";
import { NsScope } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

const snapshot = (s: DiskStore) => [...s.list()].sort(([a], [b]) => (a < b ? -1 : 1));

describe("host-local disk store cache", () => {
  it("stays equal to a rescan over 300 random reserve/release cycles", () => {
    const d = scope.tmpdir("hl-store-");
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    for (let i = 0; i < 300; i++) {
      const s = DiskStore.open(d, "net")!;
      if (i > 0) expect(s.fromCache, `cycle ${i}`).toBe(true);
      for (let k = 0; k < 1 + rnd(3); k++) {
        const ip = `10.0.${rnd(2)}.${1 + rnd(40)}`;
        if (rnd(2)) s.reserve(ip, `c${rnd(20)}`, rnd(2) ? "eth0" : "net1", 0);
        else s.release(ip);
      }
      const mine = snapshot(s);
      s.close();
      fs.rmSync(path.join(d, CACHE_DIR, "net.cache.tmp"), { force: true });
      // A copy of the directory without the cache must scan to the same content.
      const copy = scope.tmpdir("hl-store-copy-");
      fs.cpSync(path.join(d, "net"), path.join(copy, "net"), { recursive: true });
      const fresh = withStore(copy, "net", { create: false }, (c) => {
        expect(c.fromCache).toBe(false);
        return snapshot(c);
      });
      expect(fresh, `cycle ${i}`).toEqual(mine);
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }, 120_000);

  it("distrusts the cache after a foreign create, delete, or a rewritten cache", () => {
    const d = scope.tmpdir("hl-store-");
    withStore(d, "net", { create: true }, (s) => s.reserve("10.0.0.2", "a", "eth0", 0));
    const again = () => withStore(d, "net", { create: true }, (s) => s.fromCache)!;
    expect(again()).toBe(true);
    fs.writeFileSync(path.join(d, "net", "10.0.0.3"), "b\r\neth0");
    expect(again()).toBe(false);
    expect(again()).toBe(true);
    fs.unlinkSync(path.join(d, "net", "10.0.0.3"));
    expect(again()).toBe(false);
    fs.writeFileSync(path.join(d, CACHE_DIR, "net.cache"), "garbage");
    expect(again()).toBe(false);
    expect(withStore(d, "net", { create: true }, (s) => snapshot(s))).toEqual([["10.0.0.2", "a\r\neth0"]]);
  });
});
