// GC: remove every attachment of this network that is not in the runtime's valid list; then,
// node-wide under the pin root, IFB classes and host-veth HTB roots and clsact filters that no
// pinned attachment accounts for (left by a crash between steps). An attachment in the list is
// never touched. Every part is attempted whatever happened to the others (one attachment that
// cannot be removed stops neither the loop nor the sweeps) and every failure is reported. A pin
// or directory that could not be read is never taken for absent: its attachment stays, and a
// sweep that would need what it hides (its IFB class, its veth, its programs) is not run and is
// reported instead.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { Attachment } from "../../core/plugin";
import { Teardown } from "../../core/undo";
import { pinName } from "../../kernel/bpf/index";
import { type Rtnl, isRootQdisc, tcHandle } from "../../kernel/netlink/index";
import { type PinnedState, inspect, removeDirIfEmpty, teardown } from "./attach";
import type { BandwidthConfig } from "./config";
import { OUR_ROOT_KINDS, deleteHtbRoot } from "./htb";
import { sweepClsactOrphans } from "./hooks";
import { deleteIfbClasses, removeIdleIfb, usedMinors } from "./ifb";
import { attachmentName, legacyAttachmentName, networkPath } from "./names";
import { VETH_MAJOR } from "./plan";

/** The directories in `dir`; none when `dir` does not exist (ENOENT). Any other failure is thrown. */
export function subdirs(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return entries.filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
}

export interface GcReport {
  removed: string[];
  orphanClasses: number[];
  orphanRoots: number[];
  /** Devices on which orphaned filters of ours were deleted. */
  orphanFilters: number[];
}

/** What the attachments still pinned under the pin root use, and where that could not be read. */
interface Inventory {
  minors: Set<number>;
  veths: Set<number>;
  progIds: Set<number>;
  /** Per kind, why it is incomplete (a directory or pin that could not be read); empty: complete. */
  gaps: { minors: string[]; veths: string[]; progIds: string[] };
}

function inventory(pinRoot: string): Inventory {
  const inv: Inventory = { minors: new Set(), veths: new Set(), progIds: new Set(), gaps: { minors: [], veths: [], progIds: [] } };
  const gapEverywhere = (why: string) => {
    inv.gaps.minors.push(why);
    inv.gaps.veths.push(why);
    inv.gaps.progIds.push(why);
  };
  const list = (dir: string) => {
    try {
      return subdirs(dir);
    } catch (e) {
      gapEverywhere(`cannot list ${dir}: ${(e as Error).message}`);
      return [];
    }
  };
  for (const net of list(pinRoot)) for (const dir of list(net)) account(inv, inspect(dir));
  return inv;
}

function account(inv: Inventory, st: PinnedState): void {
  const failed = (...what: string[]) => what.filter((w) => st.unreadable.has(w));
  const why = (what: string[]) => `${st.dir}: cannot read ${what.join(", ")}`;
  if (st.ifbMinor !== undefined) inv.minors.add(st.ifbMinor);
  else if (failed(pinName.map("cfg"), pinName.map("ifb")).length) inv.gaps.minors.push(why(failed(pinName.map("cfg"), pinName.map("ifb"))));
  // The veth whose HTB root is the attachment's: its egress link's device; when that could not be
  // read, the device map_meta recorded (kept, though it may be stale: sparing a root is safe).
  const unreadVeth = failed(pinName.map("meta"), pinName.link("egress"), "filter_egress");
  const veth = st.links.egress?.ifindex || (unreadVeth.length ? st.meta?.ifindex : undefined);
  if (veth) inv.veths.add(veth);
  else if (unreadVeth.length) inv.gaps.veths.push(why(unreadVeth));
  for (const id of Object.values(st.meta?.progIds ?? {})) inv.progIds.add(id);
  if (failed(pinName.map("meta")).length) inv.gaps.progIds.push(why([pinName.map("meta")]));
}

/** A sweep that cannot account for every attachment is not run: reported, never guessed. */
const skipped = (sweep: string, gaps: string[]) => new CniError(Code.IOFailure, `${sweep} not done: what some attachments use could not be read`, gaps.join("; "));

export function gc(nl: Rtnl, cfg: BandwidthConfig, valid: readonly Attachment[]): GcReport {
  const keep = new Set<string>();
  for (const a of valid) {
    keep.add(attachmentName(a.containerID, a.ifname));
    const old = legacyAttachmentName(a.containerID, a.ifname); // an earlier version's, where unambiguous
    if (old) keep.add(old);
  }
  const netDir = networkPath(cfg.pinRoot, cfg.network);
  const report: GcReport = { removed: [], orphanClasses: [], orphanRoots: [], orphanFilters: [] };
  const parts = new Teardown();

  // This network's attachments that are not valid.
  let dirs: string[] | undefined;
  parts.attempt(`list ${netDir}`, () => void (dirs = subdirs(netDir)));
  for (const dir of dirs ?? []) {
    const name = path.basename(dir);
    if (keep.has(name)) continue; // valid: never touched, whatever its pins say
    parts.attempt(`remove attachment ${name}`, () => {
      teardown(nl, dir, cfg.ifbName);
      report.removed.push(name);
    });
  }
  // A crash right after the network directory was made leaves it empty: nothing else removes it.
  if (dirs) parts.attempt(`remove ${netDir}`, () => removeDirIfEmpty(netDir));

  // What every remaining attachment (all networks under the pin root) still uses.
  const inv = inventory(cfg.pinRoot);
  const sweep = (what: string, gaps: string[], fn: () => void) => {
    if (gaps.length) parts.fail(skipped(what, gaps));
    else parts.attempt(what, fn);
  };
  sweep(`sweep orphaned classes on ${cfg.ifbName}`, inv.gaps.minors, () => {
    const ifb = nl.findLink(cfg.ifbName);
    if (ifb?.kind !== "ifb") return;
    const each = new Teardown();
    for (const m of usedMinors(nl, ifb.index)) {
      if (inv.minors.has(m)) continue;
      each.attempt(`delete IFB class ${m}`, () => {
        deleteIfbClasses(nl, ifb.index, m);
        report.orphanClasses.push(m);
      });
    }
    if (each.ok) removeIdleIfb(nl, cfg.ifbName); // DEL leaves an idle IFB for the next pod; GC removes it
    each.finish();
  });
  sweep("sweep orphaned veth root qdiscs", inv.gaps.veths, () => {
    const each = new Teardown();
    for (const q of nl.listQdiscs()) {
      if (!OUR_ROOT_KINDS.includes(q.kind) || !isRootQdisc(q) || q.handle !== tcHandle(VETH_MAJOR, 0) || inv.veths.has(q.index)) continue;
      each.attempt(`delete the root qdisc of ifindex ${q.index}`, () => {
        if (deleteHtbRoot(nl, q.index, VETH_MAJOR)) report.orphanRoots.push(q.index);
      });
    }
    each.finish();
  });
  // clsact filters of ours that no pinned map_meta records (a crash between filter and pin).
  sweep("sweep orphaned clsact filters", inv.gaps.progIds, () => {
    const each = new Teardown();
    for (const q of nl.listQdiscs()) {
      if (q.kind !== "clsact") continue;
      each.attempt(`clsact filters on ifindex ${q.index}`, () => {
        if (sweepClsactOrphans(nl, q.index, inv.progIds) > 0) report.orphanFilters.push(q.index);
      });
    }
    each.finish();
  });
  parts.finish();
  return report;
}
