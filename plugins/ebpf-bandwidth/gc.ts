// GC: remove every attachment of this network that is not in the runtime's valid list, or whose
// links lost their device (orphaned pins); then, node-wide under the pin root, IFB classes and
// host-veth HTB roots and clsact filters that no pinned attachment accounts for (left by a crash
// between steps).
import * as fs from "node:fs";
import * as path from "node:path";
import type { Attachment } from "../../core/plugin";
import { type Rtnl, isRootQdisc, tcHandle } from "../../kernel/netlink/index";
import { inspect, teardown } from "./attach";
import type { BandwidthConfig } from "./config";
import { OUR_ROOT_KINDS, deleteHtbRoot } from "./htb";
import { sweepClsactOrphans } from "./hooks";
import { deleteIfbClasses, releaseIfbClass, usedMinors } from "./ifb";
import { attachmentName, legacyAttachmentName, networkPath } from "./names";
import { VETH_MAJOR } from "./plan";

const subdirs = (dir: string) => {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
};

export interface GcReport {
  removed: string[];
  orphanClasses: number[];
  orphanRoots: number[];
  /** Devices on which orphaned filters of ours were deleted. */
  orphanFilters: number[];
}

export function gc(nl: Rtnl, cfg: BandwidthConfig, valid: Attachment[]): GcReport {
  const keep = new Set<string>();
  for (const a of valid) {
    keep.add(attachmentName(a.containerID, a.ifname));
    const old = legacyAttachmentName(a.containerID, a.ifname); // an earlier version's, where unambiguous
    if (old) keep.add(old);
  }
  const netDir = networkPath(cfg.pinRoot, cfg.network);
  const report: GcReport = { removed: [], orphanClasses: [], orphanRoots: [], orphanFilters: [] };
  for (const dir of subdirs(netDir)) {
    const st = inspect(dir);
    const links = Object.values(st.links);
    const dead = links.length === 0 || links.every((l) => l.ifindex === 0);
    if (keep.has(path.basename(dir)) && !dead) continue;
    teardown(nl, dir, cfg.ifbName);
    report.removed.push(path.basename(dir));
  }
  // A crash right after the network directory was made leaves it empty: nothing else removes it.
  try {
    fs.rmdirSync(netDir);
  } catch {
    /* not empty (live attachments), or already gone */
  }
  // What every remaining attachment (all networks under the pin root) still uses.
  const minors = new Set<number>();
  const veths = new Set<number>();
  const progIds = new Set<number>();
  for (const net of subdirs(cfg.pinRoot)) {
    for (const dir of subdirs(net)) {
      const st = inspect(dir);
      if (st.ifbMinor !== undefined) minors.add(st.ifbMinor);
      if (st.links.egress?.ifindex) veths.add(st.links.egress.ifindex);
      for (const id of Object.values(st.meta?.progIds ?? {})) progIds.add(id);
    }
  }
  const ifb = nl.findLink(cfg.ifbName);
  if (ifb?.kind === "ifb") {
    for (const m of usedMinors(nl, ifb.index)) {
      if (minors.has(m)) continue;
      deleteIfbClasses(nl, ifb.index, m);
      report.orphanClasses.push(m);
    }
    releaseIfbClass(nl, cfg.ifbName, undefined); // deletes the IFB if nothing is left on it
  }
  for (const q of nl.listQdiscs()) {
    if (!OUR_ROOT_KINDS.includes(q.kind) || !isRootQdisc(q) || q.handle !== tcHandle(VETH_MAJOR, 0) || veths.has(q.index)) continue;
    if (deleteHtbRoot(nl, q.index, VETH_MAJOR)) report.orphanRoots.push(q.index);
  }
  // clsact filters of ours that no pinned map_meta records (a crash between filter and pin).
  for (const q of nl.listQdiscs()) {
    if (q.kind !== "clsact") continue;
    if (sweepClsactOrphans(nl, q.index, progIds) > 0) report.orphanFilters.push(q.index);
  }
  return report;
}
