// From a validated config to what must exist in the kernel: pure, unit-tested without root.
//
// Layout (HTB mode, the default on kernels without sch_fq; see docs/ebpf-bandwidth.md):
//   container ingress = host-veth EGRESS: HTB root VETH_MAJOR: on the host veth, one class
//     VETH_MAJOR:1 (rate = ceil = limit) with a short bfifo leaf; `classify` on TCX egress sets
//     skb->priority to that class (HTB picks it with no tc filter) and counts.
//   container egress = host-veth INGRESS: `classify` on TCX ingress sets skb->priority to this
//     attachment's class IFB_MAJOR:minor on ONE shared IFB and bpf_redirects there (replaces the
//     reference's u32 + mirred and one IFB per pod). The IFB hands the packet back to the veth's
//     receive path after HTB released it.
// EDT mode (kernels with sch_fq): container ingress = host-veth EGRESS: `edt` on that hook stamps
//   skb->tstamp from the container's virtual clock and an fq root VETH_MAJOR: on the same device
//   holds each packet until then (program and enforcer on the device the packet leaves through).
//   Container egress stays on the IFB path above: a timestamp written at the veth's ingress hook
//   does not survive forwarding (docs/ebpf-bandwidth.md, "EDT").
// Police mode: `police` on both hooks, no qdiscs, no IFB.
import type { Direction, ObjectName, ShapeConfig } from "../../kernel/bpf/index";
import type { BandwidthConfig, Limit } from "./config";

export type ResolvedMode = "htb" | "police" | "edt";

/** Our qdisc handle majors; distinct, so a priority set for one never matches the other. */
export const VETH_MAJOR = 0x7c1;
export const IFB_MAJOR = 0x7c2;
export const VETH_MINOR = 1;

export const handle = (major: number, minor: number) => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0;
export const majorOf = (h: number) => (h >>> 16) & 0xffff;
export const minorOf = (h: number) => h & 0xffff;

export interface ClassPlan {
  major: number;
  minor: number;
  /** bit/s for the netlink layer */
  rateBits: number;
  /** bytes */
  burst: number;
  queue: number;
}

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

const classPlan = (l: Limit, major: number, minor: number): ClassPlan => ({ major, minor, rateBits: l.rate * 8, burst: l.burst, queue: l.queue });

/** FNV-1a: a stable first guess for the IFB minor, so one container tends to keep its class. */
export function hashMinor(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 0xfffe) + 1;
}

/** A free minor in 1..0xfffe (0 is the qdisc itself, 0xffff reserved), probing from the hash. */
export function pickMinor(key: string, used: ReadonlySet<number>): number {
  const start = hashMinor(key);
  for (let i = 0; i < 0xfffe; i++) {
    const m = ((start - 1 + i) % 0xfffe) + 1;
    if (!used.has(m)) return m;
  }
  throw new Error("no free class on the shared IFB (65534 attachments)");
}

export function makePlan(cfg: BandwidthConfig, mode: ResolvedMode, ifb?: { ifindex: number; minor: number }): Plan {
  if (mode === "police") {
    const police = (l: Limit): Partial<ShapeConfig> => ({ rate: BigInt(l.rate), burst: BigInt(l.burst), markAbove: BigInt(Math.floor(l.burst / 2)) });
    const bpf: Plan["bpf"] = {};
    if (cfg.egress) bpf.ingress = police(cfg.egress);
    if (cfg.ingress) bpf.egress = police(cfg.ingress);
    return { programs: { ingress: "police", egress: "police" }, bpf };
  }
  const plan: Plan = { programs: {}, bpf: {} };
  if (cfg.ingress && mode === "edt") {
    plan.programs.egress = "edt";
    plan.vethFq = { major: VETH_MAJOR, ...FQ_PLAN };
    plan.bpf.egress = { rate: BigInt(cfg.ingress.rate), horizonNs: edtHorizonNs(cfg.ingress) };
  } else if (cfg.ingress) {
    plan.programs.egress = "classify";
    plan.veth = classPlan(cfg.ingress, VETH_MAJOR, VETH_MINOR);
    plan.bpf.egress = { classid: handle(VETH_MAJOR, VETH_MINOR) };
  }
  if (cfg.egress) {
    if (!ifb) throw new Error("makePlan: egress shaping needs the shared IFB");
    plan.programs.ingress = "classify";
    plan.ifb = { ...classPlan(cfg.egress, IFB_MAJOR, ifb.minor), name: cfg.ifbName, ifindex: ifb.ifindex };
    plan.bpf.ingress = { classid: handle(IFB_MAJOR, ifb.minor), redirectIfindex: ifb.ifindex };
  }
  return plan;
}

/** HTB quantum: rate/10 like r2q, kept in the kernel's sane range to avoid its log warnings. */
export const htbQuantum = (rateBits: number) => Math.min(200_000, Math.max(1600, Math.floor(rateBits / 8 / 10)));
