// Programs prepared between requests (plugins/ebpf-bandwidth/prepared.ts), with a fake loader: an
// ADD takes a prepared set only for its own plan and only once; a set for another plan is closed
// and replaced; nothing is prepared unless idle work is enabled (a plugin process); dispose closes.
import { describe, expect, it } from "vitest";
import { enableIdleWork, hasIdleWork, idleWorkEnabled, runIdleWork } from "../../core/idle";
import type { Collection } from "../../kernel/bpf/index";
import { type LoadPlan, type Loaded, dispose, hasPrepared, prepare, takeLoaded } from "../../plugins/ebpf-bandwidth/prepared";

const classify: LoadPlan = { objects: ["classify"], programs: { ingress: "classify", egress: "classify" }, directions: ["ingress", "egress"] };
const police: LoadPlan = { objects: ["police"], programs: { ingress: "police", egress: "police" }, directions: ["ingress", "egress"] };

function fakeLoader() {
  const made: { plan: LoadPlan; closed: boolean; loaded: Loaded }[] = [];
  const load = (plan: LoadPlan): Loaded => {
    const rec = { plan, closed: false, loaded: undefined as unknown as Loaded };
    rec.loaded = { colls: [{ programs: {}, close: () => void (rec.closed = true) } as unknown as Collection], maps: {} };
    made.push(rec);
    return rec.loaded;
  };
  return { made, load };
}

describe("programs prepared between requests", () => {
  it("in a plugin process (idle work not enabled) every ADD loads its own, and nothing is prepared", () => {
    expect(idleWorkEnabled()).toBe(false);
    const f = fakeLoader();
    takeLoaded(classify, f.load);
    prepare(f.load);
    expect(runIdleWork()).toEqual([]);
    expect(f.made).toHaveLength(1);
    expect(hasPrepared()).toBe(false);
    expect(hasIdleWork()).toBe(false);
  });

  it("in a daemon worker the next ADD of the same plan takes the set loaded after the last one, once", () => {
    enableIdleWork();
    const f = fakeLoader();
    const first = takeLoaded(classify, f.load);
    expect(f.made).toHaveLength(1);
    expect(hasIdleWork()).toBe(true); // the worker tells the daemon it is settling (pool.ts)
    prepare(f.load);
    expect(f.made).toHaveLength(2);
    expect(hasIdleWork()).toBe(false); // ready: a bridge call after this is not followed by idle work
    prepare(f.load); // already ready: nothing more
    expect(f.made).toHaveLength(2);
    const second = takeLoaded(classify, f.load);
    expect(second).toBe(f.made[1]!.loaded);
    expect(second).not.toBe(first);
    expect(hasPrepared()).toBe(false);
    const third = takeLoaded(classify, f.load); // nothing prepared since: loads its own
    expect(third).toBe(f.made[2]!.loaded);
    expect(f.made.every((m) => !m.closed)).toBe(true); // the caller owns what it took
  });

  it("a set prepared for another plan is left alone by the ADD, then closed and replaced", () => {
    const f = fakeLoader();
    takeLoaded(classify, f.load);
    prepare(f.load);
    const forClassify = f.made.at(-1)!;
    const p = takeLoaded(police, f.load);
    expect(p).toBe(f.made.at(-1)!.loaded); // loaded for police, the classify set untouched
    expect(forClassify.closed).toBe(false);
    prepare(f.load);
    expect(forClassify.closed).toBe(true);
    expect(f.made.at(-1)!.plan).toBe(police);
    expect(hasPrepared()).toBe(true);
  });

  it("dispose closes the prepared set (the worker ends)", () => {
    const f = fakeLoader();
    takeLoaded(classify, f.load);
    prepare(f.load);
    const ready = f.made.at(-1)!;
    dispose();
    expect(ready.closed).toBe(true);
    expect(hasPrepared()).toBe(false);
  });

  it("a failed preparation leaves nothing prepared and reaches the worker's log through runIdleWork", () => {
    dispose();
    takeLoaded(classify, fakeLoader().load);
    const failing = () => {
      throw new Error("PROG_LOAD: EPERM");
    };
    expect(() => prepare(failing)).toThrow(/EPERM/);
    expect(hasPrepared()).toBe(false);
  });
});
