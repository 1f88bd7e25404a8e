// Traffic control (RTM_*QDISC, RTM_*TCLASS, RTM_*TFILTER): tcmsg + TCA_* schema with per-kind
// TCA_OPTIONS (htb, tbf, bpf), typed results with TCA_STATS2 counters, and pure request builders.
// Units: rates in bits per second (like tc and CNI), bursts and limits in bytes.
import { type Attrs, type AttrType, type DecodedOf, decodeBody, defineAttrs, defineBody, dynamicAttr, encodeBody } from "./attrs";
import {
  AF_UNSPEC, ETH_P_ALL, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE, RTM, TCA, TCA_ACT, TCA_BPF, TCA_BPF_FLAG_ACT_DIRECT,
  TCA_EGRESS_REDIR, TCA_MIRRED, TC_ACT_STOLEN,
  TCA_HTB, TCA_STATS, TCA_TBF, TC_H_CLSACT, TC_H_INGRESS, TC_H_ROOT, TC_HTB_PROTOVER, TC_LINKLAYER_ETHERNET,
  TC_PARENT_EGRESS, TC_PARENT_INGRESS,
} from "./constants";
import {
  type TcHtbGlob, type TcHtbOpt, type TcMsg, type TcTbfQopt,
  gnetStatsBasic, gnetStatsQueue, tcFifoQopt, tcHtbGlob, tcHtbOpt, tcMirred, tcTbfQopt, tcmsg,
} from "./layouts";
import { type Psched, psched, xmitBytes, xmitTicks } from "./psched";
import type { Request } from "./socket";
import { LITTLE_ENDIAN } from "./struct";
import { formatTcHandle, parseTcHandle } from "./tc-handle";

export const htbAttrs = defineAttrs("TCA_HTB", {
  parms: { id: TCA_HTB.PARMS, type: { struct: tcHtbOpt } },
  init: { id: TCA_HTB.INIT, type: { struct: tcHtbGlob } },
  directQlen: { id: TCA_HTB.DIRECT_QLEN, type: "u32" },
  rate64: { id: TCA_HTB.RATE64, type: "u64" },
  ceil64: { id: TCA_HTB.CEIL64, type: "u64" },
});

export const tbfAttrs = defineAttrs("TCA_TBF", {
  parms: { id: TCA_TBF.PARMS, type: { struct: tcTbfQopt } },
  rate64: { id: TCA_TBF.RATE64, type: "u64" },
  burst: { id: TCA_TBF.BURST, type: "u32" },
});

export const mirredAttrs = defineAttrs("TCA_MIRRED", {
  parms: { id: TCA_MIRRED.PARMS, type: { struct: tcMirred } },
});

/** A layout chosen by a sibling string (TCA_KIND, TCA_ACT_KIND); undefined for any other value. */
const byKind = (table: Record<string, AttrType>, kind: unknown) => (typeof kind === "string" ? table[kind] : undefined);

const actOptionsByKind: Record<string, AttrType> = { mirred: { nested: mirredAttrs } };

/** One action (TCA_ACT_*): its kind selects the options schema. */
export const actAttrs = defineAttrs("TCA_ACT", {
  kind: { id: TCA_ACT.KIND, type: "string" },
  options: { id: TCA_ACT.OPTIONS, type: dynamicAttr<DecodedOf<typeof mirredAttrs>>((s) => byKind(actOptionsByKind, s.kind)), nestedFlag: true },
});

/** A filter's action list: attribute n is the n-th action (order 1 first). We only ever use one. */
export const actListAttrs = defineAttrs("TCA_ACT_LIST", {
  first: { id: 1, type: { nested: actAttrs }, nestedFlag: true },
});

export const bpfAttrs = defineAttrs("TCA_BPF", {
  act: { id: TCA_BPF.ACT, type: { nested: actListAttrs }, nestedFlag: true },
  classid: { id: TCA_BPF.CLASSID, type: "u32" },
  fd: { id: TCA_BPF.FD, type: "u32" },
  name: { id: TCA_BPF.NAME, type: "string" },
  flags: { id: TCA_BPF.FLAGS, type: "u32" },
  flagsGen: { id: TCA_BPF.FLAGS_GEN, type: "u32" },
  tag: { id: TCA_BPF.TAG, type: "bytes" },
  id: { id: TCA_BPF.ID, type: "u32" },
});

export const stats2Attrs = defineAttrs("TCA_STATS", {
  basic: { id: TCA_STATS.BASIC, type: { struct: gnetStatsBasic } },
  queue: { id: TCA_STATS.QUEUE, type: { struct: gnetStatsQueue } },
  pkt64: { id: TCA_STATS.PKT64, type: "u64" },
});

/** TCA_FQ_* (pkt_sched.h; kept here with the one qdisc that uses them). */
export const TCA_FQ = {
  PLIMIT: 1, FLOW_PLIMIT: 2, QUANTUM: 3, INITIAL_QUANTUM: 4, RATE_ENABLE: 5, FLOW_DEFAULT_RATE: 6,
  FLOW_MAX_RATE: 7, BUCKETS_LOG: 8, FLOW_REFILL_DELAY: 9, ORPHAN_MASK: 10, LOW_RATE_THRESHOLD: 11,
  CE_THRESHOLD: 12, TIMER_SLACK: 13, HORIZON: 14, HORIZON_DROP: 15,
} as const;

export const fqAttrs = defineAttrs("TCA_FQ", {
  plimit: { id: TCA_FQ.PLIMIT, type: "u32" },
  flowPlimit: { id: TCA_FQ.FLOW_PLIMIT, type: "u32" },
  quantum: { id: TCA_FQ.QUANTUM, type: "u32" },
  initialQuantum: { id: TCA_FQ.INITIAL_QUANTUM, type: "u32" },
  rateEnable: { id: TCA_FQ.RATE_ENABLE, type: "u32" },
  flowMaxRate: { id: TCA_FQ.FLOW_MAX_RATE, type: "u32" },
  bucketsLog: { id: TCA_FQ.BUCKETS_LOG, type: "u32" },
  flowRefillDelay: { id: TCA_FQ.FLOW_REFILL_DELAY, type: "u32" },
  orphanMask: { id: TCA_FQ.ORPHAN_MASK, type: "u32" },
  lowRateThreshold: { id: TCA_FQ.LOW_RATE_THRESHOLD, type: "u32" },
  ceThreshold: { id: TCA_FQ.CE_THRESHOLD, type: "u32" },
  timerSlack: { id: TCA_FQ.TIMER_SLACK, type: "u32" },
  horizon: { id: TCA_FQ.HORIZON, type: "u32" },
  horizonDrop: { id: TCA_FQ.HORIZON_DROP, type: "u8" },
});

// Most kinds nest TCA_* attributes in TCA_OPTIONS; the fifos put a bare struct there.
const optionsByKind: Record<string, AttrType> = {
  htb: { nested: htbAttrs }, tbf: { nested: tbfAttrs }, bpf: { nested: bpfAttrs }, fq: { nested: fqAttrs },
  bfifo: { struct: tcFifoQopt }, pfifo: { struct: tcFifoQopt },
};
/** What TCA_OPTIONS decodes to, by TCA_KIND. */
interface TcOptions {
  htb: DecodedOf<typeof htbAttrs>;
  tbf: DecodedOf<typeof tbfAttrs>;
  bpf: DecodedOf<typeof bpfAttrs>;
  fq: DecodedOf<typeof fqAttrs>;
  bfifo: { limit: number };
  pfifo: { limit: number };
}

export const tcAttrs = defineAttrs("TCA", {
  kind: { id: TCA.KIND, type: "string" },
  options: { id: TCA.OPTIONS, type: dynamicAttr<TcOptions[keyof TcOptions]>((s) => byKind(optionsByKind, s.kind)) },
  stats2: { id: TCA.STATS2, type: { nested: stats2Attrs } },
  chain: { id: TCA.CHAIN, type: "u32" },
});
export const tcBody = defineBody(tcmsg, tcAttrs);
type TcAttrs = DecodedOf<typeof tcAttrs>;

/** TCA_OPTIONS decoded for `kind`, when the object is of that kind (the kind chose its layout). */
const optionsOf = <K extends keyof TcOptions>(a: TcAttrs, kind: K) => (a.kind === kind ? (a.options as TcOptions[K] | undefined) : undefined);

// ---------- shared ----------

export interface TcStats {
  bytes: number;
  packets: number;
  drops: number;
  overlimits: number;
  requeues: number;
  qlen: number;
  backlog: number;
}

function decodeStats(a: TcAttrs): TcStats | undefined {
  const s = a.stats2;
  if (!s) return undefined;
  const q = s.queue;
  return {
    bytes: s.basic?.bytes ?? 0,
    packets: s.pkt64 ?? s.basic?.packets ?? 0,
    drops: q?.drops ?? 0,
    overlimits: q?.overlimits ?? 0,
    requeues: q?.requeues ?? 0,
    qlen: q?.qlen ?? 0,
    backlog: q?.backlog ?? 0,
  };
}

/** tc_ratespec.rate is 32-bit bytes/s; faster rates saturate it and go in a *_RATE64 attribute. */
function splitRate(bitsPerSec: number): { bytes: number; spec: number; rate64?: number } {
  if (!(bitsPerSec > 0)) throw new RangeError(`rate must be positive (bits/s), got ${bitsPerSec}`);
  const bytes = Math.floor(bitsPerSec / 8);
  return bytes >= 0xffffffff ? { bytes, spec: 0xffffffff, rate64: bytes } : { bytes, spec: bytes };
}
const ratespec = (rate: number) => ({ rate, linklayer: TC_LINKLAYER_ETHERNET });

const tcRequest = (type: number, flags: number, header: Partial<TcMsg>, attrs: Attrs, target: string): Request => ({
  type, flags, payload: encodeBody(tcBody, { header: { family: AF_UNSPEC, ...header }, attrs }), target,
});

const createFlags = (replace: boolean) => NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);

// ---------- qdiscs ----------

export interface HtbQdiscOptions {
  kind: "htb";
  /** Minor number of the class unclassified traffic goes to (tc "default 10" = 0x10); 0 = direct. */
  defaultClass?: number;
  /** rate-to-quantum divisor (default 10). */
  r2q?: number;
  directQlen?: number;
}
export interface TbfQdiscOptions {
  kind: "tbf";
  /** bits per second */
  rate: number;
  /** bucket size in bytes (should be ≥ the MTU) */
  burst: number;
  /** queue limit in bytes; or give latencyMs and it is computed like tc does */
  limit?: number;
  latencyMs?: number;
}
export interface FifoQdiscOptions {
  kind: "bfifo" | "pfifo";
  /** bytes for bfifo, packets for pfifo */
  limit: number;
}
/**
 * fq (sch_fq): per-flow fair queueing and pacing; honours skb->tstamp as the earliest departure
 * time (EDT, kernel ≥ 4.20). Every option is optional: omitted ones keep the kernel's defaults.
 */
export interface FqQdiscOptions {
  kind: "fq";
  /** total packets queued (kernel default 10000) */
  plimit?: number;
  /** packets queued per flow (default 100) */
  flowPlimit?: number;
  /** bytes a flow may dequeue per round (default 2 × MTU) */
  quantum?: number;
  initialQuantum?: number;
  /** per-flow pacing cap, bits/s (TCA_FQ_FLOW_MAX_RATE is bytes/s, 32-bit; ~0 = unlimited) */
  flowMaxRate?: number;
  /** false = ignore sk_pacing_rate (tc "nopacing") */
  pacing?: boolean;
  bucketsLog?: number;
  /** CE-mark packets that waited longer than this, µs */
  ceThresholdUs?: number;
  /** packets whose skb->tstamp is further ahead than this are dropped (or capped), µs; default 10 s */
  horizonUs?: number;
  /** true: drop beyond the horizon (default); false: cap their departure time at the horizon */
  horizonDrop?: boolean;
}
export type QdiscOptions = { kind: "clsact" } | { kind: "ingress" } | HtbQdiscOptions | TbfQdiscOptions | FifoQdiscOptions | FqQdiscOptions;

export interface QdiscPlacement {
  /** Default: root (clsact/ingress: their fixed parent). */
  parent?: number | string;
  /** Default: kernel-assigned (clsact/ingress: ffff:). "1:" for htb so classes can be 1:x. */
  handle?: number | string;
}

function qdiscPlacement(kind: string, p: QdiscPlacement): { parent: number; handle: number } {
  if (kind === "clsact" || kind === "ingress") return { parent: kind === "clsact" ? TC_H_CLSACT : TC_H_INGRESS, handle: 0xffff0000 };
  return { parent: parseTcHandle(p.parent ?? TC_H_ROOT), handle: parseTcHandle(p.handle ?? 0) };
}

function qdiscOptionAttrs(o: QdiscOptions, p: Psched): Attrs | { limit: number } | undefined {
  switch (o.kind) {
    case "bfifo":
    case "pfifo":
      return { limit: o.limit };
    case "clsact":
    case "ingress":
      return undefined;
    case "fq":
      return {
        plimit: o.plimit, flowPlimit: o.flowPlimit, quantum: o.quantum, initialQuantum: o.initialQuantum,
        flowMaxRate: o.flowMaxRate === undefined ? undefined : Math.min(0xffffffff, Math.floor(o.flowMaxRate / 8)),
        rateEnable: o.pacing === undefined ? undefined : o.pacing ? 1 : 0,
        bucketsLog: o.bucketsLog, ceThreshold: o.ceThresholdUs, horizon: o.horizonUs,
        horizonDrop: o.horizonDrop === undefined ? undefined : o.horizonDrop ? 1 : 0,
      };
    case "htb": {
      const init: Partial<TcHtbGlob> = { version: TC_HTB_PROTOVER, rate2quantum: o.r2q ?? 10, defcls: o.defaultClass ?? 0 };
      return { init, directQlen: o.directQlen };
    }
    case "tbf": {
      const r = splitRate(o.rate);
      let limit = o.limit;
      if (limit === undefined) {
        if (o.latencyMs === undefined) throw new TypeError("tbf needs limit (bytes) or latencyMs");
        limit = Math.floor((r.bytes * o.latencyMs) / 1000) + o.burst; // iproute2: rate*latency + burst
      }
      const parms: Partial<TcTbfQopt> = { rate: ratespec(r.spec), limit, buffer: xmitTicks(r.bytes, o.burst, p) };
      return { parms, rate64: r.rate64, burst: o.burst };
    }
  }
}

export function qdiscRequest(op: "add" | "replace", ifindex: number, o: QdiscOptions & QdiscPlacement, p: Psched = psched()): Request {
  const { parent, handle } = qdiscPlacement(o.kind, o);
  const where = handle ? formatTcHandle(handle) : `under ${formatTcHandle(parent)}`; // handle 0: the kernel picks one
  return tcRequest(RTM.NEWQDISC, createFlags(op === "replace"), { ifindex, parent, handle }, { kind: o.kind, options: qdiscOptionAttrs(o, p) }, `${o.kind} ${where} dev ${ifindex}`);
}

export function deleteQdiscRequest(ifindex: number, kindOrPlacement: "clsact" | "ingress" | QdiscPlacement): Request {
  const { parent, handle } = typeof kindOrPlacement === "string" ? qdiscPlacement(kindOrPlacement, {}) : qdiscPlacement("", kindOrPlacement);
  return tcRequest(RTM.DELQDISC, 0, { ifindex, parent, handle }, {}, `${formatTcHandle(parent)} dev ${ifindex}`);
}

export const dumpQdiscsRequest = (): Request => tcRequest(RTM.GETQDISC, 0, {}, {}, "");
/**
 * The root qdisc of one device if its handle is `handle` (the kernel answers EINVAL when the root
 * has another handle, before it looks further: safe on a device that was never up, whose root is
 * the builtin noop qdisc without a device). The kernel answers a get like a change, with a
 * notification to the TC group that reaches the asking socket only with NLM_F_ECHO.
 */
export const getRootQdiscRequest = (ifindex: number, handle: number): Request =>
  tcRequest(RTM.GETQDISC, NLM_F_ECHO, { ifindex, parent: TC_H_ROOT, handle }, {}, `root qdisc ${formatTcHandle(handle)} dev ${ifindex}`);

export interface Qdisc {
  index: number;
  kind: string;
  handle: number;
  parent: number;
  stats?: TcStats;
  htb?: { defaultClass: number; r2q: number; directQlen?: number };
  tbf?: { rate: number; burst: number; limit: number };
  /** bfifo (bytes) / pfifo (packets) */
  fifo?: { limit: number };
  fq?: { plimit?: number; flowPlimit?: number; quantum?: number; initialQuantum?: number; pacing?: boolean; horizonUs?: number; horizonDrop?: boolean; ceThresholdUs?: number };
}

export function decodeQdisc(payload: Buffer, p: Psched = psched()): Qdisc {
  const { header: h, attrs: a } = decodeBody(tcBody, payload);
  const q: Qdisc = { index: h.ifindex, kind: a.kind ?? "", handle: h.handle, parent: h.parent };
  const stats = decodeStats(a);
  if (stats) q.stats = stats;
  const htb = optionsOf(a, "htb");
  const fifo = optionsOf(a, "bfifo") ?? optionsOf(a, "pfifo");
  const fq = optionsOf(a, "fq");
  const tbf = optionsOf(a, "tbf");
  if (htb?.init) {
    q.htb = { defaultClass: htb.init.defcls, r2q: htb.init.rate2quantum };
    if (htb.directQlen !== undefined) q.htb.directQlen = htb.directQlen;
  } else if (fifo) {
    q.fifo = { limit: fifo.limit };
  } else if (q.kind === "fq") {
    const o = fq ?? {};
    const out: NonNullable<Qdisc["fq"]> = {};
    for (const [from, to] of [["plimit", "plimit"], ["flowPlimit", "flowPlimit"], ["quantum", "quantum"], ["initialQuantum", "initialQuantum"], ["horizon", "horizonUs"], ["ceThreshold", "ceThresholdUs"]] as const) {
      const v = o[from];
      if (v !== undefined) out[to] = v;
    }
    if (o.rateEnable !== undefined) out.pacing = o.rateEnable !== 0;
    if (o.horizonDrop !== undefined) out.horizonDrop = o.horizonDrop !== 0;
    q.fq = out;
  } else if (tbf?.parms) {
    const bytes = tbf.rate64 ?? tbf.parms.rate.rate ?? 0;
    q.tbf = { rate: bytes * 8, burst: xmitBytes(bytes, tbf.parms.buffer, p), limit: tbf.parms.limit };
  }
  return q;
}

// ---------- classes (htb) ----------

export interface HtbClassOptions {
  /** "1:10" */
  classid: number | string;
  /** "1:" for a top class, "1:1" for a child */
  parent: number | string;
  /** guaranteed rate, bits/s */
  rate: number;
  /** borrowing limit, bits/s (default = rate) */
  ceil?: number;
  /** bytes (default like tc: rate/HZ + mtu) */
  burst?: number;
  cburst?: number;
  /** 0 (highest) .. 7 */
  prio?: number;
  /** bytes; default the kernel's rate/r2q */
  quantum?: number;
  /** for default bursts (default 1600 like tc) */
  mtu?: number;
}

export function htbClassRequest(op: "add" | "replace", ifindex: number, o: HtbClassOptions, p: Psched = psched()): Request {
  const rate = splitRate(o.rate);
  const ceil = splitRate(o.ceil ?? o.rate);
  const mtu = o.mtu ?? 1600;
  const burst = o.burst ?? Math.floor(rate.bytes / p.hz) + mtu;
  const cburst = o.cburst ?? Math.floor(ceil.bytes / p.hz) + mtu;
  const parms: Partial<TcHtbOpt> = {
    rate: ratespec(rate.spec),
    ceil: ratespec(ceil.spec),
    buffer: xmitTicks(rate.bytes, burst, p),
    cbuffer: xmitTicks(ceil.bytes, cburst, p),
    quantum: o.quantum ?? 0,
    prio: o.prio ?? 0,
  };
  const handle = parseTcHandle(o.classid);
  return tcRequest(RTM.NEWTCLASS, createFlags(op === "replace"), { ifindex, handle, parent: parseTcHandle(o.parent) }, {
    kind: "htb", options: { parms, rate64: rate.rate64, ceil64: ceil.rate64 },
  }, `htb class ${formatTcHandle(handle)} dev ${ifindex}`);
}

export function deleteClassRequest(ifindex: number, classid: number | string): Request {
  const handle = parseTcHandle(classid);
  return tcRequest(RTM.DELTCLASS, 0, { ifindex, handle }, {}, `class ${formatTcHandle(handle)} dev ${ifindex}`);
}

/** The kernel dumps the classes of one device; parent 0 = all qdiscs on it. */
export const dumpClassesRequest = (ifindex: number): Request => tcRequest(RTM.GETTCLASS, 0, { ifindex }, {}, `dev ${ifindex}`);
/** One class by its full classid (its major names the qdisc); NLM_F_ECHO as for getRootQdiscRequest. */
export const getClassRequest = (ifindex: number, classid: number): Request => tcRequest(RTM.GETTCLASS, NLM_F_ECHO, { ifindex, handle: classid }, {}, `class ${formatTcHandle(classid)} dev ${ifindex}`);

export interface TcClass {
  index: number;
  kind: string;
  /** classid */
  handle: number;
  parent: number;
  stats?: TcStats;
  htb?: { rate: number; ceil: number; burst: number; cburst: number; prio: number; quantum: number; level: number };
}

export function decodeClass(payload: Buffer, p: Psched = psched()): TcClass {
  const { header: h, attrs: a } = decodeBody(tcBody, payload);
  const c: TcClass = { index: h.ifindex, kind: a.kind ?? "", handle: h.handle, parent: h.parent };
  const stats = decodeStats(a);
  if (stats) c.stats = stats;
  const o = optionsOf(a, "htb");
  if (o?.parms) {
    const t = o.parms;
    const rate = o.rate64 ?? t.rate.rate ?? 0;
    const ceil = o.ceil64 ?? t.ceil.rate ?? 0;
    c.htb = {
      rate: rate * 8, ceil: ceil * 8,
      burst: xmitBytes(rate, t.buffer, p), cburst: xmitBytes(ceil, t.cbuffer, p),
      prio: t.prio, quantum: t.quantum, level: t.level,
    };
  }
  return c;
}

// ---------- filters (cls_bpf) ----------

const htons = (v: number) => (LITTLE_ENDIAN ? ((v & 0xff) << 8) | ((v >> 8) & 0xff) : v & 0xffff);

/** "ingress"/"egress" = the clsact (or ingress qdisc) hooks; otherwise a tc handle. */
export function filterParent(parent: number | string): number {
  if (parent === "ingress") return TC_PARENT_INGRESS;
  if (parent === "egress") return TC_PARENT_EGRESS;
  return parseTcHandle(parent);
}

export interface BpfFilterOptions {
  parent: "ingress" | "egress" | number | string;
  /** program fd (BPF_PROG_TYPE_SCHED_CLS) */
  fd: number;
  /** shown by `tc filter show` */
  name?: string;
  /** direct-action: the program's return code is the verdict (default true) */
  directAction?: boolean;
  /** "pref"; 0 lets the kernel pick (it starts at 49152). Default 1. */
  priority?: number;
  /** default 1 */
  handle?: number;
  /** ethertype; default ETH_P_ALL */
  protocol?: number;
  classid?: number | string;
  /**
   * Redirect matching packets to this device's egress with an act_mirred action on the filter
   * (implies directAction false: the program's -1 means "match, run the actions", 0 "no match").
   * Unlike bpf_redirect before Linux 6.4, mirred marks the skb `redirected`, so an IFB accepts it.
   */
  mirredRedirect?: number;
}

/** The action list for "action mirred egress redirect dev <ifindex>" (tc's defaults: index 0 = new). */
export const mirredRedirectActions = (ifindex: number): Attrs => ({
  first: { kind: "mirred", options: { parms: { index: 0, capab: 0, action: TC_ACT_STOLEN, refcnt: 0, bindcnt: 0, eaction: TCA_EGRESS_REDIR, ifindex } } },
});

export function bpfFilterRequest(op: "add" | "replace", ifindex: number, o: BpfFilterOptions): Request {
  const prio = o.priority ?? 1;
  const parent = filterParent(o.parent);
  const options: Attrs = {
    fd: o.fd,
    name: o.name,
    flags: o.directAction === false || o.mirredRedirect ? undefined : TCA_BPF_FLAG_ACT_DIRECT,
    classid: o.classid === undefined ? undefined : parseTcHandle(o.classid),
    act: o.mirredRedirect ? mirredRedirectActions(o.mirredRedirect) : undefined,
  };
  // tcm_info = TC_H_MAKE(prio << 16, protocol) with the protocol in network byte order.
  const info = ((prio << 16) | htons(o.protocol ?? ETH_P_ALL)) >>> 0;
  return tcRequest(RTM.NEWTFILTER, createFlags(op === "replace"), { ifindex, parent, handle: o.handle ?? 1, info }, { kind: "bpf", options },
    `bpf filter ${formatTcHandle(parent)} pref ${prio} dev ${ifindex}`);
}

/** Delete one filter (priority + handle + kind), every filter of a priority (handle omitted), or all (nothing). */
export function deleteFilterRequest(ifindex: number, o: { parent: BpfFilterOptions["parent"]; priority?: number; handle?: number; protocol?: number; kind?: string }): Request {
  const parent = filterParent(o.parent);
  const info = o.priority ? ((o.priority << 16) | htons(o.protocol ?? ETH_P_ALL)) >>> 0 : 0;
  const kind = o.handle ? (o.kind ?? "bpf") : o.kind;
  return tcRequest(RTM.DELTFILTER, 0, { ifindex, parent, handle: o.handle ?? 0, info }, { kind }, `filter ${formatTcHandle(parent)} pref ${o.priority ?? "*"} dev ${ifindex}`);
}

export const dumpFiltersRequest = (ifindex: number, parent: BpfFilterOptions["parent"]): Request =>
  tcRequest(RTM.GETTFILTER, 0, { ifindex, parent: filterParent(parent) }, {}, `dev ${ifindex}`);

export interface TcFilter {
  index: number;
  kind: string;
  parent: number;
  priority: number;
  protocol: number;
  handle: number;
  chain?: number;
  bpf?: { name?: string; id?: number; tag?: string; directAction: boolean; mirredRedirect?: number };
}

export function decodeFilter(payload: Buffer): TcFilter {
  const { header: h, attrs: a } = decodeBody(tcBody, payload);
  const f: TcFilter = {
    index: h.ifindex, kind: a.kind ?? "", parent: h.parent, priority: h.info >>> 16, protocol: htons(h.info & 0xffff), handle: h.handle,
  };
  if (a.chain !== undefined) f.chain = a.chain;
  const o = optionsOf(a, "bpf");
  if (o) {
    f.bpf = { directAction: ((o.flags ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0 };
    if (o.name !== undefined) f.bpf.name = o.name;
    if (o.id !== undefined) f.bpf.id = o.id;
    if (o.tag) f.bpf.tag = o.tag.toString("hex");
    const act = o.act?.first;
    const mirred = act?.kind === "mirred" && act.options && !Buffer.isBuffer(act.options) ? act.options.parms : undefined;
    if (mirred?.eaction === TCA_EGRESS_REDIR) f.bpf.mirredRedirect = mirred.ifindex;
  }
  return f;
}
