// Programs verified ahead of the next ADD. Loading is the verifier and the JIT, ≈ 0.45 ms of a
// default ADD's ≈ 2.3 ms in-process (docs/ebpf-bandwidth.md, "Where an ADD's time goes"), and a
// daemon worker is idle most of the time: after an ADD it loads the same objects again (fresh
// maps, programs bound to them, nothing pinned, no request's data in them) for the next ADD to
// take whole. Only in daemon workers (core/idle.ts); a plugin process loads during its ADD as
// before. An ADD that finds nothing prepared, or a set for other programs, loads its own.
import { idleWorkEnabled, registerIdleWork } from "../../core/idle";
import { type BpfMap, type Collection, type Direction, type ObjectName, loadCollection, objectSpec } from "../../kernel/bpf/index";

export interface Loaded {
  colls: Collection[];
  /** Every map by name, shared between the objects (edt and classify share `cfg` and `stats`). */
  maps: Record<string, BpfMap>;
}

/** The objects and programs an attachment loads: `<object>_<direction>` per shaped direction. */
export interface LoadPlan {
  objects: ObjectName[];
  programs: Partial<Record<Direction, ObjectName>>;
  directions: Direction[];
}

/** Load the objects, the one with the most maps first, the others sharing its maps. */
export function loadObjects(p: LoadPlan): Loaded {
  const colls: Collection[] = [];
  const maps: Record<string, BpfMap> = {};
  try {
    for (const obj of p.objects) {
      const spec = objectSpec(obj);
      const given = Object.fromEntries(Object.keys(spec.maps).filter((n) => maps[n]).map((n) => [n, maps[n]!]));
      const progs = p.directions.filter((d) => p.programs[d] === obj).map((d) => `${obj}_${d}`);
      const c = loadCollection(spec, { programs: progs, maps: given });
      colls.push(c);
      for (const [n, m] of Object.entries(c.maps)) maps[n] ??= m;
    }
  } catch (e) {
    closeLoaded({ colls, maps });
    throw e;
  }
  return { colls, maps };
}

export function closeLoaded(l: Loaded | undefined): void {
  for (const c of l?.colls ?? []) c.close();
}

const keyOf = (p: LoadPlan) => JSON.stringify([p.objects, p.directions.map((d) => [d, p.programs[d]])]);

/** What the next ADD will likely load (the last ADD's plan) and what is ready for it. */
let wanted: { key: string; plan: LoadPlan } | undefined;
let spare: { key: string; loaded: Loaded } | undefined;

/** The loaded objects for `plan`: the prepared set when it matches, else loaded now. The caller owns them. */
export function takeLoaded(plan: LoadPlan, load: (p: LoadPlan) => Loaded = loadObjects): Loaded {
  const key = keyOf(plan);
  if (idleWorkEnabled()) wanted = { key, plan };
  if (spare?.key === key) {
    const { loaded } = spare;
    spare = undefined;
    return loaded;
  }
  return load(plan);
}

/** Whether prepare() would load anything: an ADD took the set, or wants another plan's. */
export const preparePending = () => !!wanted && spare?.key !== wanted.key;

/** Between requests: have a set ready for the last plan (replacing one for another plan). */
export function prepare(load: (p: LoadPlan) => Loaded = loadObjects): void {
  if (!wanted || !preparePending()) return;
  dispose();
  const loaded = load(wanted.plan);
  spare = { key: wanted.key, loaded };
  // The programs' ids too (ADD records them in map_meta): one syscall each less in the ADD.
  for (const c of loaded.colls) for (const p of Object.values(c.programs)) p.id();
}

/** Close the prepared set (the worker ends; its descriptors are the process's). */
export function dispose(): void {
  closeLoaded(spare?.loaded);
  spare = undefined;
}

/** Whether a set is ready (tests). */
export const hasPrepared = () => spare !== undefined;

registerIdleWork({ run: () => prepare(), dispose, pending: preparePending });
