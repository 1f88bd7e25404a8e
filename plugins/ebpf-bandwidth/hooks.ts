// Attaching the shaping programs to the host veth, with TCX links (kernel ≥ 6.6) or, where TCX is
// absent, a clsact qdisc with cls_bpf direct-action filters (the one that feeds the IFB is instead a
// classic filter with a mirred redirect action: see plan.ts). Both write the same pin directory:
//
//   map_cfg, map_stats (, map_state)   the programs' maps (shared by both directions' programs)
//   map_meta                           how we attached: mode, veth ifindex, prog ids, "we made clsact"
//   link_ingress, link_egress          TCX only: the pinned links (they hold the attachment)
//
// A cls_bpf filter is not a pinnable object: it lives on the device and holds its program itself.
// map_meta therefore records the device and the program ids, and DEL removes the filter at our
// priority/handle only if it still runs our program (the ifindex may have been reused by another
// device after the veth went away; the veth's filters die with it). The clsact qdisc is removed
// only if we created it and no filter (ours or anyone's) is left on it.
//
// One directory may hold programs of two objects (EDT mode: `edt` towards the container,
// `classify` from it): the second object is loaded with the first one's cfg/stats maps, so readers
// (CHECK, GC, stats) see one set of maps whatever the mode.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import { step, UndoStack } from "../../core/undo";
import {
  type BpfLink, BpfMap, type Collection, DIR_KEY, DIRECTIONS, type Direction, MapType, type ObjectName, type ShapeConfig,
  attachTcx, createMap, encodeShapeConfig, haveTcx, isBpfError, objectSpec, pinName,
} from "../../kernel/bpf/index";
import type { AttachWanted } from "./config";
import { takeLoaded } from "./prepared";
import { CLSACT_HANDLE, CLSACT_PRIORITY, attachClsact, detachClsact, listClsact } from "../../kernel/bpf/clsact";
import { Rtnl, type TcFilter, isNetlinkError } from "../../kernel/netlink/index";

export type AttachMode = "tcx" | "clsact";

/**
 * auto = clsact: cls_bpf filters are added and deleted without waiting, where every TCX attach and
 * detach waits for an RCU grace period while holding RTNL (two per ADD, two per DEL; ≈ 12 ms each
 * on the test VM, and every other rtnetlink user of the node waits with it). `tcx` on request;
 * error 50 on a kernel without TCX.
 */
export function resolveAttach(want: AttachWanted, tcx: () => boolean = haveTcx): AttachMode {
  if (want !== "tcx") return "clsact";
  if (tcx()) return "tcx";
  throw new CniError(Code.PluginNotAvailable, "ebpf-bandwidth: this kernel has no TCX (Linux 6.6+ needed)", 'use "attach": "auto" or "clsact"');
}

// ---- map_meta -------------------------------------------------------------------------------------

export const META_SIZE = 20;
const MODE_CODE: Record<AttachMode, number> = { tcx: 1, clsact: 2 };
const FLAG_CREATED_CLSACT = 1;

export interface Meta {
  mode: AttachMode;
  ifindex: number;
  /** clsact: we created the qdisc (remove it when it is empty again). */
  createdClsact: boolean;
  progIds: Partial<Record<Direction, number>>;
}

export function encodeMeta(m: Meta): Buffer {
  const b = Buffer.alloc(META_SIZE);
  b.writeUInt32LE(MODE_CODE[m.mode], 0);
  b.writeUInt32LE(m.ifindex, 4);
  b.writeUInt32LE(m.createdClsact ? FLAG_CREATED_CLSACT : 0, 8);
  b.writeUInt32LE(m.progIds.ingress ?? 0, 12);
  b.writeUInt32LE(m.progIds.egress ?? 0, 16);
  return b;
}

export function decodeMeta(b: Buffer): Meta | undefined {
  const mode = b.readUInt32LE(0) === MODE_CODE.clsact ? "clsact" : b.readUInt32LE(0) === MODE_CODE.tcx ? "tcx" : undefined;
  if (!mode) return undefined;
  const progIds: Meta["progIds"] = {};
  if (b.readUInt32LE(12)) progIds.ingress = b.readUInt32LE(12);
  if (b.readUInt32LE(16)) progIds.egress = b.readUInt32LE(16);
  return { mode, ifindex: b.readUInt32LE(4), createdClsact: (b.readUInt32LE(8) & FLAG_CREATED_CLSACT) !== 0, progIds };
}

// ---- one-entry record maps (map_meta; map_ifb read only) -----------------------------------------------------

function pinRecord(dir: string, name: string, value: Buffer): void {
  const m = createMap({ name: `tscni_${name}`, type: MapType.ARRAY, keySize: 4, valueSize: value.length, maxEntries: 1, flags: 0 });
  try {
    m.update(0, value);
    m.pin(path.join(dir, pinName.map(name)));
  } finally {
    m.close();
  }
}

/**
 * The record's value, or undefined when it is not pinned (ENOENT) or empty. A pin that is there
 * but cannot be opened (EACCES, EIO, …) is an error: "could not read" is never "not pinned".
 */
function readRecord(dir: string, name: string): Buffer | undefined {
  let m: BpfMap;
  try {
    m = BpfMap.fromPin(path.join(dir, pinName.map(name)));
  } catch (e) {
    if (isBpfError(e, "ENOENT")) return undefined;
    throw e;
  }
  try {
    return m.lookup(0);
  } finally {
    m.close();
  }
}

/** The attachment's meta, or undefined (no pin: made by a build that only knew TCX, or half-made); throws when unreadable. */
export function readMeta(dir: string): Meta | undefined {
  const v = readRecord(dir, "meta");
  return v ? decodeMeta(v) : undefined;
}

const pinMeta = (dir: string, meta: Meta) => pinRecord(dir, "meta", encodeMeta(meta));

// map_ifb: the IFB class minor, pinned by earlier builds before the class was made (ADD created
// the IFB classes before the programs' maps existed). ADD now pins map_cfg first, which records
// the class; the record is still read, for attachments an earlier build's ADD left half-made.

/** The recorded IFB class minor, or undefined (no record: no IFB class, or made before the record existed); throws when unreadable. */
export function readIfbRecord(dir: string): number | undefined {
  return readRecord(dir, "ifb")?.readUInt32LE(0) || undefined;
}

// ---- clsact filters ---------------------------------------------------------------------------------

/**
 * Our filter on `ifindex`'s hook if it is there and runs `progId`. Only a missing device means
 * "not there": any other failure (an interrupted dump) is thrown, since GC would take "not there"
 * for a dead attachment and remove it.
 */
export function findOurFilter(ifindex: number, d: Direction, progId: number | undefined, nl?: Rtnl) {
  if (!ifindex || !progId) return undefined;
  try {
    return listClsact({ link: ifindex, direction: d, ...(nl ? { nl } : {}) }).find((f) => f.priority === CLSACT_PRIORITY && f.handle === CLSACT_HANDLE && f.bpf?.id === progId);
  } catch (e) {
    if (isNetlinkError(e, "ENODEV")) return undefined;
    throw e;
  }
}

/** A tc object that is not there (any more): the kernel's answers for a missing filter, qdisc or device. */
const tcGone = (e: unknown) => isNetlinkError(e, "ENOENT") || isNetlinkError(e, "ENODEV") || isNetlinkError(e, "EINVAL");

/**
 * Remove our clsact filters (only those still running our programs), and the qdisc if we made it
 * and nothing else is on it. One dump per hook: what else is there is read from the same dump
 * (the kernel's entry without a handle at our priority is the filter chain's own, gone with ours).
 * Idempotent; a device that is gone is success.
 */
export function detachClsactHooks(meta: Meta, nl?: Rtnl): void {
  if (meta.mode !== "clsact" || !meta.ifindex) return;
  const run = (nl: Rtnl) => {
    let others = 0;
    for (const d of DIRECTIONS) {
      let filters: TcFilter[];
      try {
        filters = nl.listFilters(meta.ifindex, d);
      } catch (e) {
        if (isNetlinkError(e, "ENODEV")) return; // the veth went away: its filters and qdisc with it
        throw e;
      }
      const progId = meta.progIds[d];
      const ours = (f: TcFilter) => f.priority === CLSACT_PRIORITY && (f.handle === CLSACT_HANDLE ? !!progId && f.bpf?.id === progId : f.handle === 0);
      if (progId && filters.some((f) => f.handle === CLSACT_HANDLE && ours(f))) {
        try {
          nl.deleteFilter(meta.ifindex, { parent: d, priority: CLSACT_PRIORITY, handle: CLSACT_HANDLE, kind: "bpf" });
        } catch (e) {
          if (!tcGone(e)) throw e;
        }
      }
      // Someone else's filter at our priority keeps the chain entry: count every entry then.
      const foreignAtOurs = filters.some((f) => f.priority === CLSACT_PRIORITY && f.handle !== 0 && !ours(f));
      others += filters.filter((f) => !ours(f) || foreignAtOurs).length;
    }
    if (!meta.createdClsact || others > 0) return;
    try {
      nl.deleteQdisc(meta.ifindex, "clsact");
    } catch (e) {
      if (!tcGone(e)) throw e;
    }
  };
  if (nl) run(nl);
  else Rtnl.with(undefined, run);
}

/** Program names of our objects (`<object>_<direction>`), as our filters are named. */
const isOurProgram = (name?: string) => !!name && /^(classify|police|edt)_(ingress|egress)$/.test(name);

/**
 * Delete our cls_bpf filters on `ifindex` (our pref/handle, one of our programs) whose program id
 * is not in `live`: what a crash between attaching a filter and pinning `map_meta` leaves (no pin
 * records it). The clsact qdisc stays: without `map_meta` nobody knows who made it. A device
 * without clsact lists no filters (the kernel's dump is empty); only a device that is gone
 * (ENODEV) is skipped, any other failure to list is thrown.
 */
export function sweepClsactOrphans(nl: Rtnl, ifindex: number, live: ReadonlySet<number>): number {
  let n = 0;
  for (const d of DIRECTIONS) {
    let filters: TcFilter[];
    try {
      filters = nl.listFilters(ifindex, d);
    } catch (e) {
      if (isNetlinkError(e, "ENODEV")) continue; // the device went away meanwhile
      throw e;
    }
    for (const f of filters) {
      if (f.priority !== CLSACT_PRIORITY || f.handle !== CLSACT_HANDLE || !isOurProgram(f.bpf?.name)) continue;
      if (f.bpf?.id && live.has(f.bpf.id)) continue;
      try {
        nl.deleteFilter(ifindex, { parent: d, priority: f.priority, handle: f.handle, kind: "bpf" });
        n++;
      } catch (e) {
        if (!isNetlinkError(e, "ENOENT") && !isNetlinkError(e, "ENODEV")) throw e;
      }
    }
  }
  return n;
}

// ---- attach ---------------------------------------------------------------------------------------

/**
 * A qdisc kind this kernel lacks: error 50, not 100. Told by the errno and the request, not the
 * message: the qdiscs we add have no parent that could be missing (a root, clsact, or the leaf of
 * a class made just before), so ENOENT answering RTM_NEWQDISC is the kernel's "unknown kind".
 */
export function missingQdisc(e: unknown): unknown {
  if (isNetlinkError(e, "ENOENT") && e.op === "RTM_NEWQDISC") {
    return new CniError(Code.PluginNotAvailable, "a required qdisc is missing from this kernel", e.message);
  }
  return e;
}

/** Called with each step's name before the step runs. Tests throw from it to inject a failure there. */
export type BeforeStep = (step: string) => void;

export interface AttachOptions {
  /** The node's rtnetlink socket (the caller's, so that a call opens one); default: one per request. */
  nl?: Rtnl;
  mode: AttachMode;
  /** Which object runs on each host-veth hook (only configured directions are attached). */
  programs: Partial<Record<Direction, ObjectName>>;
  config: Partial<Record<Direction, Partial<ShapeConfig>>>;
  ifindex: number;
  /** The attachment's pin directory (created by the caller, addAttachment). */
  dir: string;
  beforeStep?: BeforeStep;
  /**
   * Runs after the maps are configured and pinned, before any program is attached (addAttachment
   * makes the qdiscs and classes here: the pinned map_cfg records them first). Its own failure
   * undoes the pins; what it made is the caller's to undo.
   */
  beforeAttach?: () => void;
}

/** Remove one pin; a missing one is fine (bpffs pins are removed with unlink(2)). */
const unpin = (p: string) => fs.rmSync(p, { force: true });

/**
 * Load, configure, attach, pin. Nothing stays open in the process afterwards: TCX links are held
 * by their pins, clsact filters by the device. On failure everything done so far is undone (the
 * directory itself is the caller's).
 */
export function attachHooks(o: AttachOptions): void {
  const directions = DIRECTIONS.filter((d) => o.config[d] && o.programs[d]);
  const objects = [...new Set(directions.map((d) => o.programs[d]!))];
  // Load the object with the most maps first (edt has `state`), then share its maps.
  objects.sort((a, b) => Object.keys(objectSpec(b).maps).length - Object.keys(objectSpec(a).maps).length);
  const colls: Collection[] = [];
  const links: BpfLink[] = [];
  // Each step names itself in its errors ("attach egress: ..."); beforeStep (tests) runs first, unlabelled.
  const at = <T>(what: string, fn: () => T): T => {
    o.beforeStep?.(what);
    return step(what, () => {
      try {
        return fn();
      } catch (e) {
        throw missingQdisc(e);
      }
    });
  };
  try {
    new UndoStack().runSync((undo) => {
      const maps: Record<string, BpfMap> = {};
      at("load", () => {
        // Prepared by the daemon worker between requests when it can be (prepared.ts).
        const loaded = takeLoaded({ objects, programs: o.programs, directions });
        colls.push(...loaded.colls);
        Object.assign(maps, loaded.maps);
      });
      at("configure", () => {
        for (const d of directions) maps.cfg!.update(DIR_KEY[d], encodeShapeConfig(o.config[d]!));
      });
      for (const [n, m] of Object.entries(maps)) {
        const pin = path.join(o.dir, pinName.map(n));
        at(`pin ${pinName.map(n)}`, () => m.pin(pin));
        undo.push(`remove ${pin}`, () => unpin(pin));
      }
      o.beforeAttach?.();
      const meta: Meta = { mode: o.mode, ifindex: o.ifindex, createdClsact: false, progIds: {} };
      let clsactThere = false; // the first filter's attach made or found the qdisc: the second need not try
      const prog = (d: Direction) => colls.find((c) => c.programs[`${o.programs[d]}_${d}`])!.program(`${o.programs[d]}_${d}`);
      for (const d of directions) {
        const p = prog(d);
        if (o.mode === "tcx") {
          const link = at(`attach ${d}`, () => attachTcx(p, { ifindex: o.ifindex, direction: d }));
          links.push(link);
          undo.push(`detach the ${d} link`, () => link.detach());
          const pin = path.join(o.dir, pinName.link(d));
          at(`pin ${pinName.link(d)}`, () => {
            link.pin(pin);
            undo.push(`remove ${pin}`, () => unpin(pin));
            meta.progIds[d] = link.info().progId;
          });
        } else {
          const c = o.config[d]!;
          at(`attach ${d}`, () => {
            const a = attachClsact(p, { ...(o.nl ? { nl: o.nl } : {}), link: o.ifindex, direction: d, qdiscThere: clsactThere, ...(c.mirred && c.redirectIfindex ? { mirredRedirect: c.redirectIfindex } : {}) });
            meta.createdClsact ||= a.createdQdisc;
            clsactThere = true;
            const progId = a.progId ?? p.id();
            meta.progIds[d] = progId;
            // Read when undone: the qdisc goes with the last of our filters only if one of them made it.
            undo.push(`remove the ${d} clsact filter`, () => void detachClsact({ ...(o.nl ? { nl: o.nl } : {}), link: o.ifindex, direction: d, progId, removeQdisc: meta.createdClsact }));
          });
        }
      }
      at(`pin ${pinName.map("meta")}`, () => pinMeta(o.dir, meta));
    });
  } finally {
    for (const l of links) l.close();
    for (const c of colls) c.close();
  }
}
