// ADD and the teardown shared by DEL and GC. The pinned directory is the source of truth: its
// cfg map records the IFB class (classid + redirect ifindex) and its links record the host veth,
// so DEL and GC need no other state file and work after the veth (or the netns) is gone.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { Result } from "../../core/result/types";
import {
  BpfLink, DIRECTIONS, type Direction, type ShapeConfig, decodeShapeConfig, makePinDir, openShapingMap, pinName, removePinDir, removeShaping,
} from "../../kernel/bpf/index";
import { Rtnl, isNetlinkError, tcMajor, tcMinor } from "../../kernel/netlink/index";
import type { BandwidthConfig } from "./config";
import {
  type AttachMode, CFG_FLAGS_OFFSET, type Meta, attachHooks, detachClsactHooks, findOurFilter, pinIfbRecord, readIfbRecord, readMeta, sweepClsactOrphans,
} from "./hooks";
import { deleteHtbRoot, ensureFqRoot, ensureHtbRoot, setClass } from "./htb";
import { allocateMinor, ensureIfb, releaseIfbClass } from "./ifb";
import { IFB_MAJOR, type Plan, type ResolvedMode, VETH_MAJOR, makePlan, parentMinor, steerMinor, usesIfb } from "./plan";

export interface HostVeth {
  index: number;
  name: string;
}

/**
 * The host end of the container's veth, as the reference finds it: the container interface's
 * IFLA_LINK is its peer's index in the host namespace; that device must be in prevResult.
 */
export function findHostVeth(prev: Result, netns: string, ifname: string): HostVeth {
  const ifs = prev.interfaces ?? [];
  if (ifs.length === 0) throw new CniError(Code.InvalidNetworkConfig, "no interfaces in prevResult", "ebpf-bandwidth must be chained after a plugin that creates a veth");
  if (!netns) throw new CniError(Code.InvalidEnvironmentVariables, "CNI_NETNS is required");
  const ctr = Rtnl.open(netns);
  let peer: number | undefined;
  try {
    const link = ctr.findLink(ifname);
    if (!link) throw new CniError(Code.UnknownContainer, `interface ${ifname} not found in ${netns}`);
    if (link.kind !== "veth" || !link.link) throw new CniError(Code.InvalidNetworkConfig, `${ifname} in the container is not a veth`, `kind ${link.kind ?? "?"}`);
    peer = link.link;
  } finally {
    ctr.close();
  }
  const nl = Rtnl.open();
  try {
    const host = nl.findLink(peer);
    if (!host || !ifs.some((i) => !i.sandbox && i.name === host.name)) {
      throw new CniError(Code.InvalidNetworkConfig, "failed to find host interface", `the peer of ${ifname} (index ${peer}) is not among prevResult's host interfaces`);
    }
    return { index: host.index, name: host.name };
  } finally {
    nl.close();
  }
}

/** What a pinned attachment says about itself; missing pieces are simply absent. */
export interface PinnedState {
  dir: string;
  cfg: Partial<Record<Direction, ShapeConfig>>;
  /** cfg.flags per direction (classify's small-packet class). */
  flags: Partial<Record<Direction, number>>;
  /** How it was attached (map_meta); absent for pins made before the clsact fallback existed (TCX). */
  meta?: Meta;
  mode: AttachMode;
  /**
   * Per host-veth direction: TCX = the pinned link (ifindex 0: the device is gone); clsact = our
   * filter (id 0), with the recorded ifindex only while the device still has our filter running
   * our program, else 0.
   */
  links: Partial<Record<Direction, { id: number; progId: number; ifindex: number }>>;
  /** IFB class minor this attachment owns, from the ingress cfg. */
  ifbMinor?: number;
}

export function inspect(dir: string): PinnedState {
  const meta = readMeta(dir);
  const st: PinnedState = { dir, cfg: {}, flags: {}, links: {}, mode: meta?.mode ?? "tcx", ...(meta ? { meta } : {}) };
  try {
    const m = openShapingMap(dir, "cfg");
    try {
      for (const [d, k] of [["ingress", 0], ["egress", 1]] as const) {
        const v = m.lookup(k);
        if (v) {
          st.cfg[d] = decodeShapeConfig(v);
          st.flags[d] = v.readUInt32LE(CFG_FLAGS_OFFSET);
        }
      }
    } finally {
      m.close();
    }
  } catch {
    /* no cfg pin: a half-made or foreign directory */
  }
  if (meta?.mode === "clsact") {
    for (const d of DIRECTIONS) {
      const progId = meta.progIds[d];
      if (progId) st.links[d] = { id: 0, progId, ifindex: findOurFilter(meta.ifindex, d, progId) ? meta.ifindex : 0 };
    }
  }
  for (const d of ["ingress", "egress"] as const) {
    if (meta?.mode === "clsact") break;
    const p = path.join(dir, pinName.link(d));
    if (!fs.existsSync(p)) continue;
    try {
      const l = BpfLink.fromPin(p);
      try {
        const i = l.info();
        st.links[d] = { id: i.id, progId: i.progId, ifindex: i.ifindex };
      } finally {
        l.close();
      }
    } catch {
      /* unreadable pin: teardown still removes it */
    }
  }
  const c = st.cfg.ingress?.classid ?? 0;
  if (c && tcMajor(c) === IFB_MAJOR) st.ifbMinor = parentMinor(tcMinor(c)); // classify steers to the bulk leaf
  else st.ifbMinor = readIfbRecord(dir); // ADD stopped between making the class and pinning cfg
  if (st.ifbMinor === undefined) delete st.ifbMinor;
  return st;
}

/**
 * Remove everything one attachment made. Idempotent; works with the veth gone. The caller holds
 * the IFB lock. `hostIndex` (when known from CNI args) lets us clean a veth even without pins.
 */
export function teardown(nl: Rtnl, dir: string, ifbName: string, hostIndex?: number): void {
  const st = inspect(dir);
  const errors: unknown[] = [];
  const step = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(e);
    }
  };
  if (st.meta?.mode === "clsact") step(() => detachClsactHooks(st.meta!)); // only filters still running our programs
  // No map_meta: a crash before it was pinned may have left a filter of ours that no pin records.
  // On this container's own veth any such filter is this attachment's.
  if (hostIndex && !st.meta) step(() => sweepClsactOrphans(nl, hostIndex, new Set()));
  step(() => removeShaping(dir));
  const vethIndex = st.links.egress?.ifindex || hostIndex;
  if (vethIndex) step(() => deleteHtbRoot(nl, vethIndex, VETH_MAJOR));
  // Also without a minor: an IFB with none of our classes left (ADD killed right after creating it)
  // is used by nobody, since ADD holds the IFB lock from creating it until everything is pinned.
  step(() => releaseIfbClass(nl, ifbName, st.ifbMinor));
  step(() => removeAttachmentDir(dir));
  if (errors.length) throw errors[0];
}

/** Remove the attachment's pins, then its network directory if that is empty now. */
function removeAttachmentDir(dir: string): void {
  removePinDir(dir);
  try {
    fs.rmdirSync(path.dirname(dir));
  } catch {
    /* not empty (another attachment uses it), or already gone */
  }
}

/** `dir` (an attachment path under `pinRoot`) created on bpffs, mounting /sys/fs/bpf if needed. */
const makeAttachmentDir = (pinRoot: string, dir: string) => makePinDir(pinRoot, ...path.relative(pinRoot, dir).split(path.sep));

/**
 * ADD: the pin directory first (nothing is touched when pins could not be kept), then qdiscs and
 * classes (so the first steered packet has a class), then programs. `dir` is the attachment's
 * path (names.ts attachmentPath).
 */
export function addAttachment(nl: Rtnl, cfg: BandwidthConfig, mode: ResolvedMode, attach: AttachMode, host: HostVeth, dir: string): { plan: Plan; dir: string } {
  const undo: (() => void)[] = [];
  try {
    makeAttachmentDir(cfg.pinRoot, dir);
    undo.push(() => removeAttachmentDir(dir));
    let ifb: { ifindex: number; minor: number } | undefined;
    if (usesIfb(cfg, mode)) {
      const ifindex = ensureIfb(nl, cfg.ifbName);
      ifb = { ifindex, minor: allocateMinor(nl, ifindex, path.basename(dir)) };
      const minor = ifb.minor;
      undo.push(() => releaseIfbClass(nl, cfg.ifbName, minor));
      // Recorded before the class exists: a DEL after a crash from here on finds and removes it.
      pinIfbRecord(dir, minor);
    }
    const plan = makePlan(cfg, mode, ifb, attach);
    if (plan.ifb) setClass(nl, plan.ifb.ifindex, plan.ifb);
    if (plan.veth || plan.vethFq) undo.push(() => deleteHtbRoot(nl, host.index, VETH_MAJOR));
    if (plan.veth) {
      ensureHtbRoot(nl, host.index, VETH_MAJOR, steerMinor(plan.veth));
      setClass(nl, host.index, plan.veth);
    }
    if (plan.vethFq) ensureFqRoot(nl, host.index, plan.vethFq);
    attachHooks({ mode: attach, programs: plan.programs, config: plan.bpf, flags: plan.flags, ifindex: host.index, dir });
    // The cfg map now records the class (inspect reads it there first); the record has done its job.
    fs.rmSync(path.join(dir, pinName.map("ifb")), { force: true });
    return { plan, dir };
  } catch (e) {
    for (const fn of undo.reverse()) {
      try {
        fn();
      } catch {
        /* keep undoing */
      }
    }
    if (isNetlinkError(e, "ENOENT") && String((e as Error).message).includes("qdisc")) {
      throw new CniError(Code.PluginNotAvailable, "a required qdisc is missing from this kernel", (e as Error).message);
    }
    throw e;
  }
}
