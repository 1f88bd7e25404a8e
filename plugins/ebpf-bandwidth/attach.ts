// ADD and the teardown shared by DEL and GC. The pinned directory is the source of truth: its
// cfg map records the IFB class (classid + redirect ifindex) and its links record the host veth,
// so DEL and GC need no other state file and work after the veth (or the netns) is gone.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { Result } from "../../core/result/types";
import { Teardown, UndoStack } from "../../core/undo";
import {
  BpfLink, DIR_KEY, DIRECTIONS, type Direction, type ShapeConfig, decodeShapeConfig, detachPinnedLink, makePinDir, openShapingMap, pinName, removePinDir,
} from "../../kernel/bpf/index";
import { Rtnl, isNetlinkError, tcMajor, tcMinor } from "../../kernel/netlink/index";
import type { BandwidthConfig } from "./config";
import {
  type AttachMode, type BeforeStep, type Meta, attachHooks, detachClsactHooks, findOurFilter, pinIfbRecord, readIfbRecord, readMeta, sweepClsactOrphans,
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
  const st: PinnedState = { dir, cfg: {}, links: {}, mode: meta?.mode ?? "tcx", ...(meta ? { meta } : {}) };
  try {
    const m = openShapingMap(dir, "cfg");
    try {
      for (const d of DIRECTIONS) {
        const v = m.lookup(DIR_KEY[d]);
        if (v) st.cfg[d] = decodeShapeConfig(v);
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
  for (const d of DIRECTIONS) {
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
 * Every part is attempted; every failure is reported.
 */
export function teardown(nl: Rtnl, dir: string, ifbName: string, hostIndex?: number): void {
  const st = inspect(dir);
  const parts = new Teardown();
  if (st.meta) parts.attempt(undefined, () => detachClsactHooks(st.meta!)); // only filters still running our programs
  // No map_meta: a crash before it was pinned may have left a filter of ours that no pin records.
  // On this container's own veth any such filter is this attachment's.
  if (hostIndex && !st.meta) parts.attempt(undefined, () => void sweepClsactOrphans(nl, hostIndex, new Set()));
  for (const d of DIRECTIONS) parts.attempt(undefined, () => detachLink(dir, d));
  const vethIndex = st.links.egress?.ifindex || hostIndex;
  if (vethIndex) parts.attempt(undefined, () => void deleteHtbRoot(nl, vethIndex, VETH_MAJOR));
  // Also without a minor: an IFB with none of our classes left (ADD killed right after creating it)
  // is used by nobody, since ADD holds the IFB lock from creating it until everything is pinned.
  parts.attempt(undefined, () => releaseIfbClass(nl, ifbName, st.ifbMinor));
  parts.attempt(undefined, () => removeAttachmentDir(dir));
  parts.finish();
}

/** A pinned TCX link outlives its device and keeps its program attached until it is detached. */
const detachLink = (dir: string, d: Direction) => void detachPinnedLink(path.join(dir, pinName.link(d)));

/** Detach what attachHooks attached, as its pins record it: our clsact filters, or the TCX links. */
function detachHooks(dir: string): void {
  const meta = readMeta(dir);
  if (meta) detachClsactHooks(meta);
  for (const d of DIRECTIONS) detachLink(dir, d);
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

/** A qdisc kind this kernel lacks (the kernel answers ENOENT naming it): error 50, not 100. */
function missingQdisc(e: unknown): unknown {
  if (isNetlinkError(e, "ENOENT") && String((e as Error).message).includes("qdisc")) {
    return new CniError(Code.PluginNotAvailable, "a required qdisc is missing from this kernel", (e as Error).message);
  }
  return e;
}

/**
 * ADD: the pin directory first (nothing is touched when pins could not be kept), then qdiscs and
 * classes (so the first steered packet has a class), then programs. `dir` is the attachment's
 * path (names.ts attachmentPath). On failure everything done so far is undone. `beforeStep` is
 * for tests (hooks.ts BeforeStep).
 */
export function addAttachment(nl: Rtnl, cfg: BandwidthConfig, mode: ResolvedMode, attach: AttachMode, host: HostVeth, dir: string, beforeStep?: BeforeStep): { plan: Plan; dir: string } {
  const at = (step: string) => beforeStep?.(step);
  return new UndoStack().runSync((undo) => {
    try {
      at("make the pin directory");
      makeAttachmentDir(cfg.pinRoot, dir);
      undo.push(`remove ${dir}`, () => removeAttachmentDir(dir));
      let ifb: { ifindex: number; minor: number } | undefined;
      if (usesIfb(cfg, mode)) {
        at("set up the IFB");
        const ifindex = ensureIfb(nl, cfg.ifbName);
        // Deleted again if it is ours and none of our classes is left (it may have just been made).
        undo.push(`release ${cfg.ifbName}`, () => releaseIfbClass(nl, cfg.ifbName, undefined));
        at("choose the IFB class");
        const minor = allocateMinor(nl, ifindex, path.basename(dir));
        ifb = { ifindex, minor };
        undo.push(`release IFB class ${minor}`, () => releaseIfbClass(nl, cfg.ifbName, minor));
        // Recorded before the class exists: a DEL after a crash from here on finds and removes it.
        at("record the IFB class");
        pinIfbRecord(dir, minor);
      }
      const plan = makePlan(cfg, mode, ifb, attach);
      if (plan.ifb) {
        at("set the IFB class");
        setClass(nl, plan.ifb.ifindex, plan.ifb);
      }
      if (plan.veth || plan.vethFq) undo.push(`delete the root qdisc of ${host.name}`, () => void deleteHtbRoot(nl, host.index, VETH_MAJOR));
      if (plan.veth) {
        at("set the veth's HTB root");
        ensureHtbRoot(nl, host.index, VETH_MAJOR, steerMinor(plan.veth));
        at("set the veth class");
        setClass(nl, host.index, plan.veth);
      }
      if (plan.vethFq) {
        at("set the veth's fq root");
        ensureFqRoot(nl, host.index, plan.vethFq);
      }
      attachHooks({ mode: attach, programs: plan.programs, config: plan.bpf, ifindex: host.index, dir, beforeStep });
      undo.push("detach the programs", () => detachHooks(dir));
      // The cfg map now records the class (inspect reads it there first); the record has done its job.
      at("drop the IFB record");
      fs.rmSync(path.join(dir, pinName.map("ifb")), { force: true });
      return { plan, dir };
    } catch (e) {
      throw missingQdisc(e);
    }
  });
}
