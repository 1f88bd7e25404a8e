// ADD and the teardown shared by DEL and GC. The pinned directory is the source of truth: its
// cfg map records the IFB class (classid + redirect ifindex) and its links record the host veth,
// so DEL and GC need no other state file and work after the veth (or the netns) is gone.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { Result } from "../../core/result/types";
import { step, Teardown, UndoStack } from "../../core/undo";
import {
  BpfLink, DIR_KEY, DIRECTIONS, type Direction, type ShapeConfig, decodeShapeConfig, detachPinnedLink, isBpfError, makePinDir, openShapingMap, pinName,
  removePinDir,
} from "../../kernel/bpf/index";
import { type Link, Rtnl, tcMajor, tcMinor } from "../../kernel/netlink/index";
import type { BandwidthConfig } from "./config";
import {
  type AttachMode, type BeforeStep, type Meta, attachHooks, detachClsactHooks, findOurFilter, missingQdisc, readIfbRecord, readMeta,
  sweepClsactOrphans,
} from "./hooks";
import { deleteHtbRoot, ensureFqRoot, ensureHtbRoot, setClass } from "./htb";
import { allocateMinor, ensureIfb, releaseIfbClass, removeIdleIfb } from "./ifb";
import { IFB_MAJOR, type Plan, type ResolvedMode, VETH_MAJOR, makePlan, parentMinor, steerMinor, usesIfb } from "./plan";

export interface HostVeth {
  index: number;
  name: string;
  /** Its MTU (0 when unknown): sizes the segmenting leaf towards the container (plan.ts segmentBytes). */
  mtu: number;
  /** The container's end as found in its namespace (ADD reads its GSO limits from it: gso.ts). */
  peer?: Link;
}

/**
 * The host end of the container's veth, as the reference finds it: the container interface's
 * IFLA_LINK is its peer's index in the host namespace; that device must be in prevResult.
 */
export function findHostVeth(prev: Result, netns: string, ifname: string, host?: Rtnl, ctr?: Rtnl): HostVeth {
  const ifs = prev.interfaces ?? [];
  if (ifs.length === 0) throw new CniError(Code.InvalidNetworkConfig, "no interfaces in prevResult", "ebpf-bandwidth must be chained after a plugin that creates a veth");
  if (!netns) throw new CniError(Code.InvalidEnvironmentVariables, "CNI_NETNS is required");
  const inContainer = (c: Rtnl) => {
    const link = c.findLink(ifname);
    if (!link) throw new CniError(Code.UnknownContainer, `interface ${ifname} not found in ${netns}`);
    if (link.kind !== "veth" || !link.link) throw new CniError(Code.InvalidNetworkConfig, `${ifname} in the container is not a veth`, `kind ${link.kind ?? "?"}`);
    return link;
  };
  const peer = ctr ? inContainer(ctr) : Rtnl.with(netns, inContainer);
  const look = (nl: Rtnl): HostVeth => {
    const found = nl.findLink(peer.link!);
    if (!found || !ifs.some((i) => !i.sandbox && i.name === found.name)) {
      throw new CniError(Code.InvalidNetworkConfig, "failed to find host interface", `the peer of ${ifname} (index ${peer.link}) is not among prevResult's host interfaces`);
    }
    return { index: found.index, name: found.name, mtu: found.mtu, peer };
  };
  return host ? look(host) : Rtnl.with(undefined, look);
}

/**
 * What a pinned attachment says about itself. A pin that is not there (ENOENT) is simply absent;
 * a pin that is there but could not be read is listed in `unreadable`, never taken for absent.
 */
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
  /**
   * What could not be read (a pin other than missing, or our clsact filter's listing), with the
   * error: keyed by the pin's name (`map_meta`, `map_cfg`, `map_ifb`, `link_<dir>`) or `filter_<dir>`.
   */
  unreadable: Map<string, unknown>;
}

export function inspect(dir: string, nl?: Rtnl): PinnedState {
  const unreadable = new Map<string, unknown>();
  /** Run one read; a missing pin (ENOENT) is absent, any other failure is recorded under `what`. */
  const read = <T>(what: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!isBpfError(e, "ENOENT")) unreadable.set(what, e);
      return undefined;
    }
  };
  const meta = read(pinName.map("meta"), () => readMeta(dir));
  const st: PinnedState = { dir, cfg: {}, links: {}, mode: meta?.mode ?? "tcx", ...(meta ? { meta } : {}), unreadable };
  read(pinName.map("cfg"), () => {
    const m = openShapingMap(dir, "cfg");
    try {
      for (const d of DIRECTIONS) {
        const v = m.lookup(DIR_KEY[d]);
        if (v) st.cfg[d] = decodeShapeConfig(v);
      }
    } finally {
      m.close();
    }
  });
  if (meta?.mode === "clsact") {
    for (const d of DIRECTIONS) {
      const progId = meta.progIds[d];
      if (!progId) continue;
      // Only a missing device means "not there" (findOurFilter); an interrupted dump is recorded.
      const found = read(`filter_${d}`, () => findOurFilter(meta.ifindex, d, progId, nl));
      if (!unreadable.has(`filter_${d}`)) st.links[d] = { id: 0, progId, ifindex: found ? meta.ifindex : 0 };
    }
  } else {
    for (const d of DIRECTIONS) {
      read(pinName.link(d), () => {
        const l = BpfLink.fromPin(path.join(dir, pinName.link(d)));
        try {
          const i = l.info();
          st.links[d] = { id: i.id, progId: i.progId, ifindex: i.ifindex };
        } finally {
          l.close();
        }
      });
    }
  }
  const c = st.cfg.ingress?.classid ?? 0;
  if (c && tcMajor(c) === IFB_MAJOR) st.ifbMinor = parentMinor(tcMinor(c)); // classify steers to the bulk leaf
  else {
    // An earlier build's ADD stopped between making the class and pinning cfg (it recorded the minor first).
    const recorded = read(pinName.map("ifb"), () => readIfbRecord(dir));
    if (recorded !== undefined) st.ifbMinor = recorded;
  }
  return st;
}

/**
 * DEL, GC and CHECK act only on an attachment whose pins could all be read: a pin that is there
 * but unreadable may record a live class or link, so the attachment is left in place and this
 * error (code 100, the errno in details) is reported.
 */
export function assertReadable(st: PinnedState): void {
  if (st.unreadable.size === 0) return;
  const parts = [...st.unreadable].map(([what, e]) => `${what}: ${e instanceof Error ? e.message : String(e)}`);
  const first = [...st.unreadable.values()][0] as { code?: unknown } | undefined;
  const errno = typeof first?.code === "string" && /^E[A-Z0-9]+$/.test(first.code) ? first.code : "EIO";
  throw new CniError(Code.Kernel, `ebpf-bandwidth: cannot read the pins of ${st.dir} (${[...st.unreadable.keys()].join(", ")}); the attachment is left in place`, `${errno}: ${parts.join("; ")}`);
}

/**
 * Remove everything one attachment made. Idempotent; works with the veth gone. The caller holds
 * the IFB lock. `hostIndex` (when known from CNI args) lets us clean a veth even without pins.
 * Nothing is touched when a pin could not be read (assertReadable). Every part is attempted and
 * every failure reported, each naming its part; the pins, the record of what is left to undo, are
 * removed only when every other part succeeded, so a retried DEL or GC finishes the job.
 */
export function teardown(nl: Rtnl, dir: string, ifbName: string, hostIndex?: number): void {
  const st = inspect(dir, nl);
  assertReadable(st);
  const parts = new Teardown();
  // Only filters still running our programs.
  if (st.meta) parts.attempt(`remove the clsact filters on ifindex ${st.meta.ifindex}`, () => detachClsactHooks(st.meta!, nl));
  // No map_meta: a crash before it was pinned may have left a filter of ours that no pin records.
  // On this container's own veth any such filter is this attachment's.
  if (hostIndex && !st.meta) parts.attempt(`remove unrecorded clsact filters on ifindex ${hostIndex}`, () => void sweepClsactOrphans(nl, hostIndex, new Set()));
  for (const d of DIRECTIONS) parts.attempt(`detach the ${d} link`, () => detachLink(dir, d));
  const vethIndex = st.links.egress?.ifindex || hostIndex;
  if (vethIndex) parts.attempt(`delete the root qdisc of ifindex ${vethIndex}`, () => void deleteHtbRoot(nl, vethIndex, VETH_MAJOR));
  // Also without a minor: an IFB with none of our classes left (ADD killed right after creating it)
  // is used by nobody, since ADD holds the IFB lock from creating it until everything is pinned.
  const minor = st.ifbMinor;
  if (minor) parts.attempt(`release IFB class ${minor} on ${ifbName}`, () => releaseIfbClass(nl, ifbName, minor));
  if (parts.ok) parts.attempt(`remove ${dir}`, () => removeAttachmentDir(dir));
  parts.finish();
}

/**
 * Whether the attachment's pin directory may exist: false only on a definite ENOENT (any other
 * failure to look is "maybe", and the teardown that follows reports it).
 */
export function mayHavePins(dir: string): boolean {
  try {
    fs.statSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/** A pinned TCX link outlives its device and keeps its program attached until it is detached. */
const detachLink = (dir: string, d: Direction) => void detachPinnedLink(path.join(dir, pinName.link(d)));

/** Detach what attachHooks attached, as its pins record it: our clsact filters, or the TCX links. */
function detachHooks(nl: Rtnl, dir: string): void {
  const meta = readMeta(dir);
  if (meta) detachClsactHooks(meta, nl);
  for (const d of DIRECTIONS) detachLink(dir, d);
}

/** Remove the attachment's pins, then its network directory if that is empty now. */
function removeAttachmentDir(dir: string): void {
  removePinDir(dir);
  removeDirIfEmpty(path.dirname(dir));
}

/** rmdir, where "not empty" (another attachment uses it) and "already gone" are fine; any other failure is thrown. */
export function removeDirIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw e;
  }
}

/** `dir` (an attachment path under `pinRoot`) created on bpffs, mounting /sys/fs/bpf if needed. */
const makeAttachmentDir = (pinRoot: string, dir: string) => makePinDir(pinRoot, ...path.relative(pinRoot, dir).split(path.sep));

/**
 * ADD: the pin directory first (nothing is touched when pins could not be kept), then the programs'
 * maps, configured and pinned (`map_cfg` records the IFB class before it exists: a DEL after a
 * crash from there on finds and removes it), then qdiscs and classes (so the first steered packet
 * has a class), then the programs' hooks. `dir` is the attachment's path (names.ts
 * attachmentPath). On failure everything done so far is undone. `beforeStep` is for tests
 * (hooks.ts BeforeStep).
 */
export function addAttachment(nl: Rtnl, cfg: BandwidthConfig, mode: ResolvedMode, attach: AttachMode, host: HostVeth, dir: string, beforeStep?: BeforeStep): { plan: Plan; dir: string } {
  // Each step names itself in its errors ("set the veth class: ..."), as bridge's do; a missing
  // qdisc kind becomes code 50 first. beforeStep (tests) runs before the step, unlabelled.
  const at = <T>(what: string, fn: () => T): T => {
    beforeStep?.(what);
    return step(what, () => {
      try {
        return fn();
      } catch (e) {
        throw missingQdisc(e);
      }
    });
  };
  return new UndoStack().runSync((undo) => {
    at("make the pin directory", () => makeAttachmentDir(cfg.pinRoot, dir));
    undo.push(`remove ${dir}`, () => removeAttachmentDir(dir));
    let ifb: { ifindex: number; minor: number } | undefined;
    if (usesIfb(cfg, mode)) {
      const { ifindex, created } = at("set up the IFB", () => ensureIfb(nl, cfg.ifbName));
      // Made by this ADD: deleted again if none of our classes is on it (otherwise it stays for the next pod).
      if (created) undo.push(`remove ${cfg.ifbName}`, () => removeIdleIfb(nl, cfg.ifbName));
      const minor = at("choose the IFB class", () => allocateMinor(nl, ifindex, path.basename(dir)));
      ifb = { ifindex, minor };
      undo.push(`release IFB class ${minor}`, () => releaseIfbClass(nl, cfg.ifbName, minor));
    }
    const plan = makePlan(cfg, mode, ifb, attach, host.mtu || undefined);
    // Between pinning the maps (map_cfg now records the IFB class) and attaching the programs.
    const queues = () => {
      if (plan.ifb) {
        const c = plan.ifb;
        at("set the IFB class", () => setClass(nl, c.ifindex, c));
      }
      if (plan.veth || plan.vethFq) undo.push(`delete the root qdisc of ${host.name}`, () => void deleteHtbRoot(nl, host.index, VETH_MAJOR));
      if (plan.veth) {
        const c = plan.veth;
        at("set the veth's HTB root", () => ensureHtbRoot(nl, host.index, VETH_MAJOR, steerMinor(c)));
        at("set the veth class", () => setClass(nl, host.index, c));
      }
      if (plan.vethFq) {
        const fq = plan.vethFq;
        at("set the veth's fq root", () => ensureFqRoot(nl, host.index, fq));
      }
    };
    attachHooks({ nl, mode: attach, programs: plan.programs, config: plan.bpf, ifindex: host.index, dir, beforeStep, beforeAttach: queues });
    undo.push("detach the programs", () => detachHooks(nl, dir));
    return { plan, dir };
  });
}
