// Configuration: the reference `bandwidth` plugin's keys (so a conflist can swap one for the
// other), plus a few of our own. Pure: no kernel access, unit-tested without root.
//
// Units on the wire are the reference's: rates in bit/s, bursts in bits. Internally everything is
// bytes (what HTB, bfifo and the BPF `cfg` map take).
import { configError } from "../../core/errors";
import { type JsonObject, field, optBool, optInt, optObject, optString } from "../../core/json";

export type Mode = "auto" | "htb" | "police" | "edt";
export const MODES: readonly Mode[] = ["auto", "htb", "police", "edt"];

export type AttachWanted = "auto" | "tcx" | "clsact";
export const ATTACH_MODES: readonly AttachWanted[] = ["auto", "tcx", "clsact"];

export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/tscni";
export const DEFAULT_IFB = "tscni-ifb0";
/** One maximum-size GSO packet: the smallest burst/queue that never stalls a TCP sender. */
export const GSO_MAX = 64 * 1024;
export const DEFAULT_QUEUE_MS = 5;
export const DEFAULT_MAX_BURST_MS = 50;
/**
 * How much of a configured burst the bulk leaf queues, as traffic at the rate. The reference's TBF
 * queues rate × 25 ms + burst (512 MiB under containerd's default); ours queues the configured
 * burst up to this (queueLimit). With the default 64 KiB burst nothing changes; with a runtime's
 * huge burst BBR, whose ACK-compressed rate samples send far more than the cap for a while, is
 * absorbed instead of dropped (docs/ebpf-bandwidth.md "Burst clamping").
 */
export const DEFAULT_MAX_QUEUED_BURST_MS = 1000;
/**
 * Police mode has no queue: the bucket is all TCP gets to absorb its bursts. As measured
 * (docs/ebpf-bandwidth.md, "Police mode"), TCP without ECN reaches ~2.5 Mbit/s with a 64 KiB
 * bucket at a 10 or 100 Mbit/s cap, 97 % with ≈ 0.4-0.6 s of traffic: so a police bucket holds at
 * least POLICE_MIN_BURST_MS and, unless "maxBurstMs" says otherwise, at most POLICE_MAX_BURST_MS.
 */
export const POLICE_MIN_BURST_MS = 500;
export const POLICE_MAX_BURST_MS = 1000;
/**
 * HTB's bucket holds at least this much of the rate (above ≈ 262 Mbit/s, where it is more than
 * 64 KiB). HTB caps its tokens at the bucket: a dequeue later than the bucket's worth of time loses
 * sending time for good. At 1 Gbit/s 64 KiB is 0.5 ms, and on a busy 2-vCPU node softirq and timer
 * latency is often more: flows reached 88-94 % of the cap instead of 95.6 % (docs/ebpf-bandwidth.md
 * "Burst clamping").
 */
export const HTB_MIN_BURST_MS = 2;

/** One direction's limit, seen from the container (ingress = traffic towards it). */
export interface Limit {
  /** As configured (bit/s, bits). */
  rateBits: number;
  burstBits: number;
  /** Bytes per second. */
  rate: number;
  /** Effective bucket depth in bytes, after clamping (see effectiveBurst). */
  burst: number;
  /** Leaf queue limit in bytes (HTB mode): rate × queueMs + the burst, as queueLimit clamps it. */
  queue: number;
}

export interface BandwidthConfig {
  network: string;
  pinRoot: string;
  mode: Mode;
  /** How programs are attached: TCX links where the kernel has them (auto), or clsact + cls_bpf. */
  attach: AttachWanted;
  ifbName: string;
  queueMs: number;
  maxBurstMs: number;
  maxQueuedBurstMs: number;
  /** HTB: a higher-priority class per attachment for packets up to 512 bytes (default true). */
  smallPacketPrio: boolean;
  ingress?: Limit;
  egress?: Limit;
}

const RATE_KEYS = ["ingressRate", "ingressBurst", "egressRate", "egressBurst"] as const;

/**
 * Runtimes send enormous default bursts (containerd: 2^32-1 bits = 512 MiB; Kubernetes' examples
 * 2^31). A token bucket that deep never shapes a TCP flow of a few seconds (measured: 412 Mbit/s
 * through a "10 Mbit" TBF). We cap the burst at `maxBurstMs` of traffic at the configured rate,
 * and raise tiny bursts to one GSO packet (a bucket smaller than a 64 KiB packet stalls or drops
 * every large packet; the reference's TBF with the CONVENTIONS example of 1600 bits passes nothing).
 */
export function effectiveBurst(rateBytes: number, burstBytes: number, maxBurstMs = DEFAULT_MAX_BURST_MS, minBurstMs = 0): number {
  const floor = Math.max(GSO_MAX, Math.floor((rateBytes * minBurstMs) / 1000));
  const cap = Math.max(floor, Math.floor((rateBytes * maxBurstMs) / 1000));
  return Math.min(Math.max(burstBytes, floor), cap);
}

/**
 * The leaf queue: queueMs of traffic plus the configured burst, at least one GSO packet and at most
 * maxQueuedBurstMs of traffic — enough for TCP to keep the link busy and for the bursts the user
 * allowed; small packets have their own class, so ping stays fast whatever this is.
 * bfifo's limit is a u32 of bytes: from ≈ 6.9 Tbit/s (5 ms) it is capped at 4 GiB.
 */
export function queueLimit(rateBytes: number, queueMs = DEFAULT_QUEUE_MS, burstBytes = GSO_MAX, maxQueuedBurstMs = DEFAULT_MAX_QUEUED_BURST_MS): number {
  return Math.min(0xffffffff, Math.floor((rateBytes * queueMs) / 1000) + effectiveBurst(rateBytes, burstBytes, maxQueuedBurstMs));
}

/** Reference rules (validateRateAndBurst): both or neither; burst below 4 GiB once in bytes. */
function limit(dir: "ingress" | "egress", rate: number | undefined, burst: number | undefined, where: string, o: { queueMs: number; maxBurstMs: number; minBurstMs: number; maxQueuedBurstMs: number }): Limit | undefined {
  const r = rate ?? 0;
  const b = burst ?? 0;
  if (r === 0 && b === 0) return undefined;
  if (b === 0) throw configError(`invalid ${where}${dir}Burst`, `if ${dir}Rate is set, ${dir}Burst must also be set`);
  if (r === 0) throw configError(`invalid ${where}${dir}Rate`, `if ${dir}Burst is set, ${dir}Rate must also be set`);
  if (b / 8 >= 0xffffffff) throw configError(`invalid ${where}${dir}Burst`, "burst cannot be more than 4GB");
  const rateBytes = Math.floor(r / 8);
  if (rateBytes < 1) throw configError(`invalid ${where}${dir}Rate`, `${r} bit/s is below 8 bit/s`);
  return {
    rateBits: r, burstBits: b, rate: rateBytes,
    burst: effectiveBurst(rateBytes, Math.floor(b / 8), o.maxBurstMs, o.minBurstMs),
    queue: queueLimit(rateBytes, o.queueMs, Math.floor(b / 8), o.maxQueuedBurstMs),
  };
}

/** Parse the plugin's own keys and the limits: top level wins if any limit key is there, else runtimeConfig.bandwidth. */
export function parseConfig(raw: JsonObject, runtimeConfig: JsonObject, network: string): BandwidthConfig {
  const mode = (optString(raw, "mode") ?? "auto") as Mode;
  if (!MODES.includes(mode)) throw configError(`invalid "mode"`, `must be one of ${MODES.join(", ")}, got "${mode}"`);
  const attach = (optString(raw, "attach") ?? "auto") as AttachWanted;
  if (!ATTACH_MODES.includes(attach)) throw configError(`invalid "attach"`, `must be one of ${ATTACH_MODES.join(", ")}, got "${attach}"`);
  const pinRoot = optString(raw, "pinRoot") ?? DEFAULT_PIN_ROOT;
  if (!pinRoot.startsWith("/")) throw configError(`invalid "pinRoot"`, "must be an absolute path");
  const ifbName = optString(raw, "ifbDevice") ?? DEFAULT_IFB;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifbName)) throw configError(`invalid "ifbDevice"`, "must be a valid interface name (1-15 characters)");
  if (!network || network.includes("/") || network === "." || network === "..") throw configError(`invalid "name"`, "must not be empty, contain '/' or be a dot-name");
  const queueMs = optInt(raw, "queueMs", "queueMs", 1, 1000) ?? DEFAULT_QUEUE_MS;
  const police = mode === "police";
  const maxBurstMs = optInt(raw, "maxBurstMs", "maxBurstMs", 1, 10_000) ?? (police ? POLICE_MAX_BURST_MS : DEFAULT_MAX_BURST_MS);
  const maxQueuedBurstMs = optInt(raw, "maxQueuedBurstMs", "maxQueuedBurstMs", 0, 10_000) ?? DEFAULT_MAX_QUEUED_BURST_MS;
  const smallPacketPrio = optBool(raw, "smallPacketPrio") ?? true;

  const topLevel = RATE_KEYS.some((k) => field(raw, k) !== undefined);
  const src = topLevel ? raw : optObject(runtimeConfig, "bandwidth", "runtimeConfig.bandwidth") ?? {};
  const where = topLevel ? "" : "runtimeConfig.bandwidth.";
  const num = (k: string) => optInt(src, k, `${where}${k}`, 0, Number.MAX_SAFE_INTEGER);
  const o = { queueMs, maxBurstMs, maxQueuedBurstMs, minBurstMs: Math.min(police ? POLICE_MIN_BURST_MS : HTB_MIN_BURST_MS, maxBurstMs) };
  const ingress = limit("ingress", num("ingressRate"), num("ingressBurst"), where, o);
  const egress = limit("egress", num("egressRate"), num("egressBurst"), where, o);
  return { network, pinRoot, mode, attach, ifbName, queueMs, maxBurstMs, maxQueuedBurstMs, smallPacketPrio, ...(ingress ? { ingress } : {}), ...(egress ? { egress } : {}) };
}
