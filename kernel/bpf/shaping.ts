// The shaping programs' maps seen from TypeScript: the layouts mirror bpf/include/shaping.h
// (change both together), and the readers open them from an attachment's pin directory. Loading,
// attaching and removing an attachment is ebpf-bandwidth's (plugins/ebpf-bandwidth/hooks.ts).
import * as path from "node:path";
import { BpfMap } from "./handles";
import { pinName } from "./pin";
import type { Direction } from "./tcx";

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
  /**
   * Small packets: classify, low 16 bits the size limit and high 16 bits the small class's minor;
   * edt, the size limit. 0 = off.
   */
  flags: number;
  /** classify: 1 = a mirred action on our (clsact) filter does that redirect, not bpf_redirect(). */
  mirred: number;
}

/** struct shape_cfg: field offsets, in the order of the C struct. */
const CFG = { rate: 0, burst: 8, markAbove: 16, horizonNs: 24, classid: 32, redirectIfindex: 36, flags: 40, mirred: 44 } as const;
export const SHAPE_CFG_SIZE = 48;
export const SHAPE_STATS_SIZE = 32;

export function encodeShapeConfig(c: Partial<ShapeConfig>): Buffer {
  const b = Buffer.alloc(SHAPE_CFG_SIZE);
  b.writeBigUInt64LE(c.rate ?? 0n, CFG.rate);
  b.writeBigUInt64LE(c.burst ?? 0n, CFG.burst);
  b.writeBigUInt64LE(c.markAbove ?? 0n, CFG.markAbove);
  b.writeBigUInt64LE(c.horizonNs ?? 0n, CFG.horizonNs);
  b.writeUInt32LE((c.classid ?? 0) >>> 0, CFG.classid);
  b.writeUInt32LE(c.redirectIfindex ?? 0, CFG.redirectIfindex);
  b.writeUInt32LE((c.flags ?? 0) >>> 0, CFG.flags);
  b.writeUInt32LE(c.mirred ?? 0, CFG.mirred);
  return b;
}

export function decodeShapeConfig(b: Buffer): ShapeConfig {
  return {
    rate: b.readBigUInt64LE(CFG.rate), burst: b.readBigUInt64LE(CFG.burst), markAbove: b.readBigUInt64LE(CFG.markAbove),
    horizonNs: b.readBigUInt64LE(CFG.horizonNs), classid: b.readUInt32LE(CFG.classid), redirectIfindex: b.readUInt32LE(CFG.redirectIfindex),
    flags: b.readUInt32LE(CFG.flags), mirred: b.readUInt32LE(CFG.mirred),
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
