// The shaping programs' maps seen from TypeScript (layouts mirror bpf/include/shaping.h), plus
// the lifecycle a plugin needs: load one object per attachment, configure it, attach it with TCX,
// pin everything under one directory, and later read stats / reconfigure / remove by that path.
import * as path from "node:path";
import { BpfError } from "./errors";
import { BpfLink, BpfMap } from "./handles";
import { type Collection, loadCollection } from "./loader";
import { type ObjectName, objectSpec } from "./objects";
import { makePinDir, pinName, removePinDir } from "./pin";
import { type Direction, attachTcx, detachPinnedLink } from "./tcx";

export const DIRECTIONS: readonly Direction[] = ["ingress", "egress"];
/** Map key for a direction, relative to the device the programs are attached to. */
export const DIR_KEY: Record<Direction, number> = { ingress: 0, egress: 1 };

export interface ShapeConfig {
  /** Bytes per second; 0 = no limit (count only). */
  rate: bigint;
  /** police: bucket depth in bytes. */
  burst: bigint;
  /** police: CE-mark ECT packets once the backlog exceeds this many bytes; 0 = never. */
  markAbove: bigint;
  /** edt: drop packets scheduled further ahead than this. */
  horizonNs: bigint;
  /** classify: skb->priority, i.e. the HTB class handle (tcHandle(major, minor)); 0 = leave alone. */
  classid: number;
  /** classify: redirect to this ifindex's egress (a shared IFB); 0 = none. */
  redirectIfindex: number;
  /** classify: 1 = a mirred action on our (clsact) filter does that redirect, not bpf_redirect(). */
  mirred: number;
}

export const SHAPE_CFG_SIZE = 48;
export const SHAPE_STATS_SIZE = 32;

export function encodeShapeConfig(c: Partial<ShapeConfig>): Buffer {
  const b = Buffer.alloc(SHAPE_CFG_SIZE);
  b.writeBigUInt64LE(c.rate ?? 0n, 0);
  b.writeBigUInt64LE(c.burst ?? 0n, 8);
  b.writeBigUInt64LE(c.markAbove ?? 0n, 16);
  b.writeBigUInt64LE(c.horizonNs ?? 0n, 24);
  b.writeUInt32LE((c.classid ?? 0) >>> 0, 32);
  b.writeUInt32LE(c.redirectIfindex ?? 0, 36);
  b.writeUInt32LE(c.mirred ?? 0, 44);
  return b; // flags (40) stay 0
}

export function decodeShapeConfig(b: Buffer): ShapeConfig {
  return {
    rate: b.readBigUInt64LE(0), burst: b.readBigUInt64LE(8), markAbove: b.readBigUInt64LE(16),
    horizonNs: b.readBigUInt64LE(24), classid: b.readUInt32LE(32), redirectIfindex: b.readUInt32LE(36), mirred: b.readUInt32LE(44),
  };
}

export interface ShapeStats {
  bytes: bigint;
  packets: bigint;
  drops: bigint;
  marks: bigint;
}

/** Sum the per-CPU slots of one stats entry. */
export function sumShapeStats(perCpu: Buffer[]): ShapeStats {
  const s = { bytes: 0n, packets: 0n, drops: 0n, marks: 0n };
  for (const b of perCpu) {
    s.bytes += b.readBigUInt64LE(0);
    s.packets += b.readBigUInt64LE(8);
    s.drops += b.readBigUInt64LE(16);
    s.marks += b.readBigUInt64LE(24);
  }
  return s;
}

// ---- pinned attachments --------------------------------------------------------------------------

export interface AttachShapingOptions {
  program: ObjectName;
  ifindex: number;
  /** The namespace `ifindex` lives in (path), default the current one. */
  netns?: string;
  /** Per direction: attached only if configured. */
  config: Partial<Record<Direction, Partial<ShapeConfig>>>;
  /** Pin root and a unique directory name for this attachment (e.g. `${containerId}-${ifname}`). */
  pinRoot: string;
  name: string;
}

export interface ShapingAttachment {
  dir: string;
  directions: Direction[];
  /** Link ids, for CHECK (compare with queryTcx). */
  linkIds: Partial<Record<Direction, number>>;
  progIds: Partial<Record<Direction, number>>;
}

/**
 * Load, configure, attach and pin. The links, maps (map_cfg, map_stats, map_state) are pinned
 * under pinRoot/name; after this returns nothing is held open by the process: the pins keep the
 * programs attached. On failure everything done so far is undone.
 */
export function attachShaping(o: AttachShapingOptions): ShapingAttachment {
  const spec = objectSpec(o.program);
  const directions = DIRECTIONS.filter((d) => o.config[d]);
  const programs = directions.map((d) => `${o.program}_${d}`);
  const dir = makePinDir(o.pinRoot, o.name);
  let coll: Collection | undefined;
  const links: BpfLink[] = [];
  try {
    coll = loadCollection(spec, { programs });
    for (const d of directions) coll.map("cfg").update(DIR_KEY[d], encodeShapeConfig(o.config[d]!));
    for (const [name, map] of Object.entries(coll.maps)) map.pin(path.join(dir, pinName.map(name)));
    const out: ShapingAttachment = { dir, directions, linkIds: {}, progIds: {} };
    for (const d of directions) {
      const prog = coll.program(`${o.program}_${d}`);
      const link = attachTcx(prog, { ifindex: o.ifindex, direction: d, netns: o.netns });
      links.push(link);
      link.pin(path.join(dir, pinName.link(d)));
      const info = link.info();
      out.linkIds[d] = info.id;
      out.progIds[d] = info.progId;
    }
    return out;
  } catch (e) {
    for (const l of links) {
      try {
        l.detach();
      } catch {
        /* keep undoing */
      }
    }
    removePinDir(dir);
    throw e;
  } finally {
    for (const l of links) l.close();
    coll?.close();
  }
}

/** Open a pinned map of an attachment ("cfg", "stats", "state"). */
export function openShapingMap(dir: string, name: string): BpfMap {
  return BpfMap.fromPin(path.join(dir, pinName.map(name)));
}

export function readShapingStats(dir: string): Record<Direction, ShapeStats> {
  const m = openShapingMap(dir, "stats");
  try {
    const get = (d: Direction) => sumShapeStats(m.lookupPerCpu(DIR_KEY[d]) ?? []);
    return { ingress: get("ingress"), egress: get("egress") };
  } finally {
    m.close();
  }
}

/** Change a direction's config in place: takes effect on the next packet, no reattach. */
export function updateShapingConfig(dir: string, d: Direction, c: Partial<ShapeConfig>): void {
  const m = openShapingMap(dir, "cfg");
  try {
    m.update(DIR_KEY[d], encodeShapeConfig(c));
  } finally {
    m.close();
  }
}

/**
 * Detach both links and remove the directory. Idempotent, and works when the device (or its
 * namespace) is already gone: the pins would otherwise stay forever (a TCX link outlives its device as a pin).
 */
export function removeShaping(dir: string): void {
  const errors: unknown[] = [];
  for (const d of DIRECTIONS) {
    try {
      detachPinnedLink(path.join(dir, pinName.link(d)));
    } catch (e) {
      errors.push(e);
    }
  }
  removePinDir(dir);
  if (errors.length) throw errors[0] instanceof BpfError ? errors[0] : new Error(String(errors[0]));
}

