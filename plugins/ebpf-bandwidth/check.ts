// CHECK: the programs are attached where they should be (TCX: the pinned link's id is in the
// device's TCX list; clsact: our cls_bpf filter is on the hook, direct-action or redirecting to the
// IFB with mirred, running our program id), the cfg maps hold what this config asks for, and the HTB classes (or the EDT fq root) have
// the rates and bursts configured. Any difference is error 104 naming what differs.
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import { DIRECTIONS, type ShapeConfig, queryTcx } from "../../kernel/bpf/index";
import type { Rtnl } from "../../kernel/netlink/index";
import { type HostVeth, assertReadable, inspect } from "./attach";
import type { BandwidthConfig } from "./config";
import { findOurFilter } from "./hooks";
import { classMatches, findClass, fqMatches } from "./htb";
import { type ClassPlan, makePlan, type ResolvedMode, usesIfb } from "./plan";

const fail = (what: string, details = "") => new CniError(Code.CheckFailed, `ebpf-bandwidth: ${what}`, details);

function cfgDiff(got: ShapeConfig | undefined, want: Partial<ShapeConfig>): string | undefined {
  if (!got) return "no configuration in the cfg map";
  for (const k of ["rate", "burst", "horizonNs", "classid", "redirectIfindex", "mirred", "flags"] as const) {
    const w = want[k] ?? (typeof got[k] === "bigint" ? 0n : 0);
    if (got[k] !== w) return `${k} is ${got[k]}, want ${w}`;
  }
  return undefined;
}

export function checkAttachment(nl: Rtnl, cfg: BandwidthConfig, mode: ResolvedMode, host: HostVeth, dir: string): void {
  if (!cfg.ingress && !cfg.egress) return;
  if (!fs.existsSync(dir)) throw fail("no attachment pinned", dir);
  const st = inspect(dir);
  assertReadable(st); // an unreadable pin is an error of its own (code 100), not a missing link
  if (cfg.attach !== "auto" && cfg.attach !== st.mode) throw fail(`attached with ${st.mode}, configured "attach": "${cfg.attach}"`);
  const needIfb = usesIfb(cfg, mode);
  const ifb = needIfb ? nl.findLink(cfg.ifbName) : undefined;
  if (needIfb && (!ifb || st.ifbMinor === undefined)) throw fail(`shared IFB ${cfg.ifbName} or its class is missing`);
  const plan = makePlan(cfg, mode, ifb && st.ifbMinor !== undefined ? { ifindex: ifb.index, minor: st.ifbMinor } : undefined, st.mode, host.mtu || undefined);
  for (const d of DIRECTIONS) {
    const want = plan.bpf[d];
    const link = st.links[d];
    if (!want) {
      if (link) throw fail(`a program is attached to ${host.name} ${d} but no limit is configured for it`);
      continue;
    }
    if (!link) throw fail(`no pinned ${d} ${st.mode === "tcx" ? "link" : "filter record"}`, dir);
    if (st.mode === "clsact") {
      const f = findOurFilter(host.index, d, link.progId);
      if (!f) throw fail(`no clsact ${d} filter on ${host.name} running our program ${link.progId}`);
      const mirred = want.mirred ? want.redirectIfindex : undefined;
      if (mirred && f.bpf?.mirredRedirect !== mirred) throw fail(`the clsact ${d} filter on ${host.name} does not redirect to ${cfg.ifbName}`, `mirred ifindex ${f.bpf?.mirredRedirect ?? "none"}, want ${mirred}`);
      if (!mirred && !f.bpf?.directAction) throw fail(`the clsact ${d} filter on ${host.name} is not in direct-action mode`);
    } else {
      if (link.ifindex !== host.index) throw fail(`the ${d} program is not attached to ${host.name}`, `link ${link.id} is on ifindex ${link.ifindex}`);
      if (!queryTcx(host.index, d).linkIds.includes(link.id)) throw fail(`link ${link.id} is not in ${host.name}'s TCX ${d} list`);
    }
    const diff = cfgDiff(st.cfg[d], want);
    if (diff) throw fail(`${d} program configuration differs`, diff);
  }
  const leavesMissing = (ifindex: number, c: ClassPlan) =>
    c.leaves && [c.leaves.bulk, c.leaves.small].find((m) => !findClass(nl, ifindex, c.major, m));
  if (plan.veth) {
    const why = classMatches(findClass(nl, host.index, plan.veth.major, plan.veth.minor), plan.veth);
    if (why) throw fail(`ingress class on ${host.name}`, why);
    const m = leavesMissing(host.index, plan.veth);
    if (m) throw fail(`ingress class ${plan.veth.major.toString(16)}:${m.toString(16)} on ${host.name} is missing`);
  }
  if (plan.vethFq) {
    const why = fqMatches(nl, host.index, plan.vethFq);
    if (why) throw fail(`EDT qdisc on ${host.name}`, why);
  }
  if (plan.ifb) {
    const why = classMatches(findClass(nl, plan.ifb.ifindex, plan.ifb.major, plan.ifb.minor), plan.ifb);
    if (why) throw fail(`egress class on ${plan.ifb.name}`, why);
    const m = leavesMissing(plan.ifb.ifindex, plan.ifb);
    if (m) throw fail(`egress class ${plan.ifb.major.toString(16)}:${m.toString(16)} on ${plan.ifb.name} is missing`);
  }
}
