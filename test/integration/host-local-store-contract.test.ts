// One contract for both Store implementations: the disk store (the reference's files, through a
// real directory and flock; no root needed) and the in-memory FakeStore the allocator's unit tests
// use. Whatever the unit tests prove with the fake holds for the store that ships only if the two
// behave alike, blank reservations (a crash's debris) and untrimmed content included.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DiskStore } from "../../ipam/host-local/disk-store";
import { FakeStore } from "../../ipam/host-local/fake-store";
import type { Store } from "../../ipam/host-local/store";
import { NsScope } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

interface Opened {
  store: Store;
  close(): void;
}

/** A store holding `files` (address → content) as if found on disk. */
type Open = (files: Record<string, string>) => Opened;

const implementations: [string, Open][] = [
  ["FakeStore", (files) => ({ store: new FakeStore(files), close() {} })],
  [
    "DiskStore",
    (files) => {
      const data = scope.tmpdir("hl-contract-");
      fs.mkdirSync(path.join(data, "net"));
      for (const [ip, content] of Object.entries(files)) fs.writeFileSync(path.join(data, "net", ip), content);
      const store = DiskStore.open(data, "net")!;
      return { store, close: () => store.close() };
    },
  ],
];

describe.each(implementations)("Store contract: %s", (_name, open) => {
  const withStore = (files: Record<string, string>, fn: (s: Store) => void) => {
    const o = open(files);
    try {
      fn(o.store);
    } finally {
      o.close();
    }
  };

  it("reserves a free address once, records it as the range set's last, and releases it", () => {
    withStore({}, (s) => {
      expect(s.reserve("10.0.0.2", "c1", "eth0", 0)).toBe(true);
      expect(s.reserve("10.0.0.2", "c2", "eth0", 0)).toBe(false);
      expect([s.owner("10.0.0.2"), s.reread("10.0.0.2"), s.lastReservedIP(0), s.lastReservedIP(1)]).toEqual(["c1\r\neth0", "c1\r\neth0", "10.0.0.2", undefined]);
      expect([...s.list()]).toEqual([["10.0.0.2", "c1\r\neth0"]]);
      s.release("10.0.0.2");
      s.release("10.0.0.2"); // absent is fine
      expect([s.owner("10.0.0.2"), s.reread("10.0.0.2"), [...s.list()]]).toEqual([undefined, undefined, []]);
      expect(s.reserve("10.0.0.2", "c2", "eth0", 1)).toBe(true);
      expect([s.owner("10.0.0.2"), s.lastReservedIP(1)]).toEqual(["c2\r\neth0", "10.0.0.2"]);
    });
  });

  it("compares and lists owners trimmed, and rereads the content as stored", () => {
    withStore({ "10.0.0.3": " c1\r\neth0\n", "10.0.0.4": "c1", "2001:db8::5": "c2\r\nnet1" }, (s) => {
      expect(s.owner("10.0.0.3")).toBe("c1\r\neth0");
      expect(s.reread("10.0.0.3")).toBe(" c1\r\neth0\n");
      expect([...s.ownedBy("c1\r\neth0")]).toEqual(["10.0.0.3"]);
      expect([...s.ownedBy("c1")]).toEqual(["10.0.0.4"]); // a legacy, ID-only reservation
      expect([...s.ownedBy("c2\r\nnet1")]).toEqual(["2001:db8::5"]);
      expect([...s.ownedBy("c3\r\neth0")]).toEqual([]);
      expect(new Map(s.list())).toEqual(new Map([["10.0.0.3", "c1\r\neth0"], ["10.0.0.4", "c1"], ["2001:db8::5", "c2\r\nnet1"]]));
      expect(s.reserve("10.0.0.3", "c9", "eth0", 0)).toBe(false);
    });
  });

  it("takes a blank reservation for free: no owner, listed blank, reserved again by the next ADD", () => {
    withStore({ "10.0.0.6": "", "10.0.0.7": " \n" }, (s) => {
      expect([s.owner("10.0.0.6"), s.reread("10.0.0.6"), s.owner("10.0.0.7"), s.reread("10.0.0.7")]).toEqual([undefined, undefined, undefined, undefined]);
      expect(new Map(s.list())).toEqual(new Map([["10.0.0.6", ""], ["10.0.0.7", ""]]));
      expect(s.reserve("10.0.0.6", "c1", "eth0", 0)).toBe(true);
      expect([s.owner("10.0.0.6"), s.reread("10.0.0.6"), [...s.ownedBy("c1\r\neth0")]]).toEqual(["c1\r\neth0", "c1\r\neth0", ["10.0.0.6"]]);
    });
  });
});
