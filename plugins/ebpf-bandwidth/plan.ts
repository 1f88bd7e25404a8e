// From a validated config to what must exist in the kernel: pure, unit-tested without root.
//
// Layout (HTB mode, the default on kernels without sch_fq; see docs/ebpf-bandwidth.md):
//   container ingress = host-veth EGRESS: HTB root VETH_MAJOR: on the host veth, one class
//     VETH_MAJOR:1 (rate = ceil = limit) with a short bfifo leaf; `classify` on TCX egress sets
//     skb->priority to that class (HTB picks it with no tc filter) and counts.
//   container egress = host-veth INGRESS: `classify` on TCX ingress sets skb->priority to this
//     attachment's class IFB_MAJOR:minor on ONE shared IFB and bpf_redirects there (replaces the
//     reference's u32 + mirred and one IFB per pod). The IFB hands the packet back to the veth's
//     receive path after HTB released it. On the clsact fallback (no TCX) the redirect is a mirred
//     action on our cls_bpf filter instead (hooks.ts): before 6.4 an IFB drops bpf_redirect()s.
// EDT mode (kernels with sch_fq): container ingress = host-veth EGRESS: `edt` on that hook stamps
//   skb->tstamp from the container's virtual clock and an fq root VETH_MAJOR: on the same device
//   holds each packet until then (program and enforcer on the device the packet leaves through).
//   Container egress stays on the IFB path above: a timestamp written at the veth's ingress hook
//   does not survive forwarding (docs/ebpf-bandwidth.md, "EDT").
// Police mode: `police` on both hooks, no qdiscs, no IFB.
import type { Direction, ObjectName, ShapeConfig } from "../../kernel/bpf/index";
import { type Psched, maxXmitBytes, psched } from "../../kernel/netlink/psched";
import { tcHandle } from "../../kernel/netlink/tc-handle";
import { type BandwidthConfig, GSO_MAX, type Limit } from "./config";
import type { AttachMode } from "./hooks";

export type ResolvedMode = "htb" | "police" | "edt";

/** Our qdisc handle majors; distinct, so a priority set for one never matches the other. */
export const VETH_MAJOR = 0x7c1;
export const IFB_MAJOR = 0x7c2;
export const VETH_MINOR = 1;

export interface ClassPlan {
  major: number;
  /** The attachment's class (the only one, or the rate-limited parent of `leaves`). */
  minor: number;
  /** bit/s for the netlink layer */
  rateBits: number;
  /** bytes */
  burst: number;
  queue: number;
  /**
   * The bulk leaf (or the class's only leaf) segments: a TBF far above the cap whose bucket is this
   * many bytes, so a GSO packet larger than that is split into its segments on enqueue
   * (`tbf_segment`) and a full leaf drops single segments, not 45 at once. Unset: a bfifo.
   */
  segment?: number;
  /**
   * Small-packet priority: two leaves under `minor` (which then has no queue of its own). `bulk`
   * (prio 1) takes everything else; `small` (prio 0, own guaranteed rate) takes packets up to
   * SMALL_PACKET bytes, so ACKs and pings do not wait behind a full bulk queue.
   */
  leaves?: { bulk: number; small: number; smallRateBits: number; smallQueue: number };
}

/** Packets up to this many bytes (skb->len, L2 header included) use the small-packet class. */
export const SMALL_PACKET = 512;
/** IFB minors: parents in 1..LEAF_STRIDE, their bulk leaf at +LEAF_STRIDE, small leaf at +2×. */
export const LEAF_STRIDE = 0x5554;
export const parentMinor = (m: number) => ((m - 1) % LEAF_STRIDE) + 1;
/** The small class's guaranteed share: 10 % of the cap, at least 64 kbit/s (HTB lets it borrow up to the cap). */
export const smallRate = (rateBits: number) => Math.max(64_000, Math.floor(rateBits / 10 / 8) * 8);
export const SMALL_QUEUE = 32 * 1024;

/** classify's cfg.flags for a class plan: small-packet limit and class minor (0 = off). */
export const classifyFlags = (c: ClassPlan) => (c.leaves ? ((c.leaves.small << 16) | SMALL_PACKET) >>> 0 : 0);
/** The class classify steers (bulk) traffic to. */
export const steerMinor = (c: ClassPlan) => c.leaves?.bulk ?? c.minor;

/** fq root on the host veth (EDT mode). */
export interface FqPlan {
  major: number;
  plimit: number;
  flowPlimit: number;
  /** fq's own horizon: a safety net behind the program's (a bogus clock is dropped, not held). */
  horizonUs: number;
}

export interface Plan {
  /** Object per HOST-VETH direction. */
  programs: Partial<Record<Direction, ObjectName>>;
  /** cfg map values per HOST-VETH direction (ingress = from the container). */
  bpf: Partial<Record<Direction, Partial<ShapeConfig>>>;
  veth?: ClassPlan;
  vethFq?: FqPlan;
  ifb?: ClassPlan & { name: string; ifindex: number };
}

/** EDT: packets further ahead than the HTB leaf queue would hold are dropped by the program. */
export const edtHorizonNs = (l: Limit) => BigInt(Math.ceil((l.queue * 1e9) / l.rate));
export const FQ_PLAN: Omit<FqPlan, "major"> = { plimit: 10_000, flowPlimit: 1_000, horizonUs: 2_000_000 };

/**
 * Headroom in the bulk leaf beyond `queueMs` and one GSO packet (config.ts queueLimit), for bursts:
 * at a sub-millisecond RTT CUBIC's slow start leaves HyStart late, and BBR takes ACK-compressed
 * delivery-rate samples (its min_rtt reads as a few µs, so they pass its sanity check) for several
 * Gbit/s and sends up to ≈ 1 ms of that. The reference's TBF holds rate × 25 ms + burst; with ours
 * at rate × 5 ms + 64 KiB those bursts were dropped (BBR: 1,000-7,000 retransmitted segments per
 * 5 s at 100 Mbit/s, docs/ebpf-bandwidth.md "Retransmits"). The standing queue is not this limit:
 * TCP small queues bounds each local flow to about two of its GSO packets below the socket (gso.ts
 * keeps those small), and small packets have their own class. Only a sender TSQ does not reach —
 * traffic to the container that crossed the bridge's netfilter hook or was routed, where
 * ip_rcv_core orphans the skb — can keep the leaf full, as it keeps the reference's.
 */
export const LEAF_BURST_MS = 20;
/** The bulk leaf's limit: rate × (queueMs + LEAF_BURST_MS) + one GSO packet, within bfifo's u32. */
export const leafLimit = (l: Limit) => Math.min(0xffffffff, l.queue + Math.floor((l.rate * LEAF_BURST_MS) / 1000));

/**
 * Towards the container packets arrive at whatever size their sender built (64 KiB at a
 * sub-millisecond RTT: another pod, the host, a NIC's GRO) and nothing on the pod's side can make
 * them smaller (a device's GSO limit applies after the qdisc). A drop in the bulk leaf then costs up
 * to 45 segments. So that leaf segments what is larger than SEGMENT_MS of the cap (at least two
 * full frames of the host veth, which TBF needs to pass any single frame), where that is below one
 * GSO packet, i.e. below ≈ 500 Mbit/s; above, 1 ms of the cap is a whole GSO packet and
 * segmenting only costs (measured: docs/ebpf-bandwidth.md, "Retransmits").
 */
export const SEGMENT_MS = 1;
/** The TBF's own rate: never the bottleneck below the caps it is used for (HTB shapes). */
export const SEGMENT_RATE_BITS = 10_000_000_000;
/** L2 bytes of a frame beyond the MTU: Ethernet header and one VLAN tag. */
const FRAME_OVERHEAD = 18;
export function segmentBytes(l: Limit, mtu: number): number | undefined {
  const bytes = Math.max(2 * (mtu + FRAME_OVERHEAD), Math.floor((l.rate * SEGMENT_MS) / 1000));
  return bytes < GSO_MAX ? bytes : undefined;
}

function classPlan(l: Limit, major: number, minor: number, leaves?: { bulk: number; small: number }, segment?: number): ClassPlan {
  const c: ClassPlan = { major, minor, rateBits: l.rate * 8, burst: l.burst, queue: leafLimit(l), ...(segment ? { segment } : {}) };
  if (leaves) c.leaves = { ...leaves, smallRateBits: Math.min(smallRate(c.rateBits), c.rateBits), smallQueue: SMALL_QUEUE };
  return c;
}

/** FNV-1a: a stable first guess for the IFB minor, so one container tends to keep its class. */
export function hashMinor(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 0xfffe) + 1;
}

/**
 * A free parent minor in 1..LEAF_STRIDE (its leaves take +LEAF_STRIDE and +2×), probing from the
 * hash. `used`: the parent minors in use, or a question asked per candidate (ADD asks the kernel
 * about one class at a time instead of dumping the IFB's classes, 3 per pod).
 */
export function pickMinor(key: string, used: ReadonlySet<number> | ((minor: number) => boolean)): number {
  const isUsed = typeof used === "function" ? used : (m: number) => used.has(m);
  const start = parentMinor(hashMinor(key));
  for (let i = 0; i < LEAF_STRIDE; i++) {
    const m = ((start - 1 + i) % LEAF_STRIDE) + 1;
    if (!isUsed(m)) return m;
  }
  throw new Error(`no free class on the shared IFB (${LEAF_STRIDE} attachments)`);
}

export const VETH_LEAVES = { bulk: 2, small: 3 };

/**
 * police.c turns the bucket into time as burst × 1e9 / rate in u64 nanoseconds, so the bucket must
 * stay below 2^64 / 1e9 bytes (18.4 GB). Police buckets hold at least 0.5 s of the rate, which
 * passes that from about 295 Gbit/s on (where the product wrapped around, at worst to a bucket of
 * 0 ns that dropped every packet); clamped there, it still holds 16 µs of traffic at 2^53 bit/s,
 * the largest rate a config can state exactly (280 000 maximum-size GSO packets).
 */
export const POLICE_MAX_BUCKET = Math.floor(Number((2n ** 64n - 1n) / 1_000_000_000n));

const police = (l: Limit): Partial<ShapeConfig> => {
  const burst = Math.min(l.burst, POLICE_MAX_BUCKET);
  return { rate: BigInt(l.rate), burst: BigInt(burst), markAbove: BigInt(Math.floor(burst / 2)) };
};

/**
 * The container interface's GSO limits (gso.ts applies them): the largest packet the container's
 * TCP builds, which is what reaches the IFB leaf. TCP at a sub-millisecond RTT always builds the
 * largest its device allows (64 KiB: 5 ms at 100 Mbit/s), and the bulk leaf then holds one or two:
 * TCP small queues lets each flow put two such packets below the socket, so the second or third
 * is dropped whole (45 segments to retransmit). Sized to about GSO_TARGET_MS of the egress rate:
 * several packets fit in the leaf, TSQ's two-packet bound per flow is then a short queue, and the
 * drops that made 77-3,916 retransmitted segments per 5 s at 100 Mbit/s go away (measured:
 * docs/ebpf-bandwidth.md, "Retransmits").
 *  - maxSize: rate × GSO_TARGET_MS, at least two full segments (2 × MTU plus the kernel's
 *    MAX_TCP_HEADER, which it subtracts from the device's limit: ≤ 320 bytes) and at most 64 KiB
 *    (GSO_MAX, the kernel's default: from about 500 Mbit/s nothing changes).
 *  - maxSegs: as many MTU-sized segments as fit, at least 2 (bounds UDP GSO the same way: a
 *    datagram train with more segments is segmented in software before it leaves the container).
 */
export interface GsoPlan {
  maxSize: number;
  maxSegs: number;
}
export const GSO_TARGET_MS = 1;
export const GSO_HEADROOM = 384;
/** The kernel's default gso_max_segs (GSO_MAX_SEGS). */
export const GSO_MAX_SEGS = 65535;

export function gsoPlan(l: Limit, mtu: number): GsoPlan {
  const floor = 2 * mtu + GSO_HEADROOM;
  const maxSize = Math.max(Math.min(GSO_MAX, floor), Math.min(GSO_MAX, Math.floor((l.rate * GSO_TARGET_MS) / 1000)));
  const maxSegs = maxSize >= GSO_MAX ? GSO_MAX_SEGS : Math.max(2, Math.floor(maxSize / mtu));
  return { maxSize, maxSegs };
}

/**
 * classify's ECN marks (classify.c): a bulk packet that finds more than `queueMs` of the class's
 * rate in the program's virtual queue is CE-marked when it is ECT, so ECN-capable TCP backs off
 * before the leaf drops (no AQM qdisc is needed: this kernel has none). Bounded like the police
 * bucket: the program turns it into nanoseconds as bytes × 1e9 / rate in u64. Never 0 (0 = off).
 */
export const ecnMark = (l: Limit, queueMs: number): Partial<ShapeConfig> => ({
  rate: BigInt(l.rate),
  markAbove: BigInt(Math.max(1, Math.min(POLICE_MAX_BUCKET, Math.floor((l.rate * queueMs) / 1000)))),
});

/** Whether the from-container direction goes through the shared IFB (every mode but police). */
export const usesIfb = (cfg: BandwidthConfig, mode: ResolvedMode) => mode !== "police" && !!cfg.egress;

/**
 * `attach` clsact: the IFB redirect is a mirred action on our filter (cfg `mirred` tells classify
 * not to call bpf_redirect itself), because an IFB drops bpf_redirect()ed packets before Linux 6.4
 * and TCX (6.6+) is what tells a newer kernel apart.
 */
export function makePlan(cfg: BandwidthConfig, mode: ResolvedMode, ifb?: { ifindex: number; minor: number }, attach: AttachMode = "tcx", vethMtu = 1500): Plan {
  if (mode === "police") {
    const bpf: Plan["bpf"] = {};
    if (cfg.egress) bpf.ingress = police(cfg.egress);
    if (cfg.ingress) bpf.egress = police(cfg.ingress);
    return { programs: { ingress: "police", egress: "police" }, bpf };
  }
  const plan: Plan = { programs: {}, bpf: {} };
  if (cfg.ingress && mode === "edt") {
    plan.programs.egress = "edt";
    plan.vethFq = { major: VETH_MAJOR, ...FQ_PLAN };
    // Small packets leave at once and are charged to the bulk (edt.c), like HTB's small class.
    plan.bpf.egress = { rate: BigInt(cfg.ingress.rate), horizonNs: edtHorizonNs(cfg.ingress), ...(cfg.smallPacketPrio ? { flags: SMALL_PACKET } : {}) };
  } else if (cfg.ingress) {
    plan.programs.egress = "classify";
    plan.veth = classPlan(cfg.ingress, VETH_MAJOR, VETH_MINOR, cfg.smallPacketPrio ? VETH_LEAVES : undefined, segmentBytes(cfg.ingress, vethMtu));
    plan.bpf.egress = { classid: tcHandle(VETH_MAJOR, steerMinor(plan.veth)), flags: classifyFlags(plan.veth), ...ecnMark(cfg.ingress, cfg.queueMs) };
  }
  if (cfg.egress) {
    if (!ifb) throw new Error("makePlan: egress shaping needs the shared IFB");
    plan.programs.ingress = "classify";
    const leaves = cfg.smallPacketPrio ? { bulk: ifb.minor + LEAF_STRIDE, small: ifb.minor + 2 * LEAF_STRIDE } : undefined;
    plan.ifb = { ...classPlan(cfg.egress, IFB_MAJOR, ifb.minor, leaves), name: cfg.ifbName, ifindex: ifb.ifindex };
    plan.bpf.ingress = {
      classid: tcHandle(IFB_MAJOR, steerMinor(plan.ifb)), redirectIfindex: ifb.ifindex, flags: classifyFlags(plan.ifb), ...(attach === "clsact" ? { mirred: 1 } : {}),
      ...ecnMark(cfg.egress, cfg.queueMs),
    };
  }
  return plan;
}

/**
 * An HTB burst (buffer/cbuffer) the kernel can hold: tc_htb_opt carries it as the time to send it
 * at the class's rate in u32 psched ticks, at most 274.9 s. Below 1.9 kbit/s even the 64 KiB
 * minimum takes longer (at 8 bit/s 64 KiB takes 18 hours), so the burst is clamped to the largest
 * expressible one (274 bytes at 8 bit/s). The same holds for the leaves' own rates (the bulk
 * leaf's is 8 bit/s at caps up to 64 kbit/s). Nothing stalls: HTB sends a packet larger than its
 * buffer whenever the class has tokens left and lets them go negative.
 */
export const htbBurst = (rateBits: number, bytes: number, p: Psched = psched()) => Math.min(bytes, maxXmitBytes(Math.floor(rateBits / 8), p));

/** HTB quantum: rate/10 like r2q, kept in the kernel's sane range to avoid its log warnings. */
export const htbQuantum = (rateBits: number) => Math.min(200_000, Math.max(1600, Math.floor(rateBits / 8 / 10)));
