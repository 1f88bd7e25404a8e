// The container interface's GSO limit: what makes traffic FROM the container reach our short IFB
// leaf in pieces the leaf can hold (plan.ts gsoPlan has the sizing and the reasons).
//
// A TCP sender builds packets up to its route's device's GSO size (sk_setup_caps), and at a
// sub-millisecond RTT it always builds the largest (tcp_tso_autosize adds gso_max_size >>
// (min_rtt / 512 µs)): 64 KiB, 5 ms of a 100 Mbit/s cap in one packet. The container's own eth0 is
// that device for everything the container sends, so its IFLA_GSO_MAX_SIZE / _SEGS (and, since
// Linux 6.3, IFLA_GSO_IPV4_MAX_SIZE, which IPv4 TCP reads) size every packet that reaches the IFB
// leaf. Traffic TO the container was segmented by its sender (another pod, the host, a NIC's GRO):
// nothing on the container's side changes it, so only this direction is governed here.
//
// ADD lowers the limits (never raises them: a smaller limit someone set stays) and restores what
// was there when the ADD fails. DEL leaves them: the interface is the container's, and the main
// plugin's DEL, which runs right after ours, deletes it; without the pod's namespace (a normal
// DEL case) there is nothing to restore, and keeping the previous values across calls would need
// state of its own. Smaller GSO packets without a shaper cost CPU per byte, nothing else. CHECK
// verifies that the limits are at most what ADD set.
import { CniError, Code } from "../../core/errors";
import { UndoStack, step } from "../../core/undo";
import { Rtnl } from "../../kernel/netlink/index";
import type { Link } from "../../kernel/netlink/link";
import type { BandwidthConfig } from "./config";
import { type GsoPlan, type ResolvedMode, gsoPlan, usesIfb } from "./plan";

type GsoNow = NonNullable<Link["gso"]>;

/** What ADD would set for this link, or undefined when nothing needs lowering. */
function changesFor(want: GsoPlan, now: GsoNow): { gsoMaxSize?: number; gsoMaxSegs?: number; gsoIpv4MaxSize?: number } | undefined {
  const lower = (cur: number | undefined, to: number) => (cur === undefined || cur > to ? to : undefined);
  const c = {
    gsoMaxSize: lower(now.maxSize, want.maxSize),
    gsoMaxSegs: lower(now.maxSegs, want.maxSegs),
    // Reported only by kernels that have it (6.3+); older ones take IFLA_GSO_MAX_SIZE for IPv4 too.
    gsoIpv4MaxSize: now.ipv4MaxSize === undefined ? undefined : lower(now.ipv4MaxSize, want.maxSize),
  };
  return Object.values(c).some((v) => v !== undefined) ? c : undefined;
}

/** The plan for the container's interface, or undefined when this configuration shapes nothing through the IFB. */
export function planFor(cfg: BandwidthConfig, mode: ResolvedMode, mtu: number): GsoPlan | undefined {
  return usesIfb(cfg, mode) && cfg.egress ? gsoPlan(cfg.egress, mtu) : undefined;
}

/**
 * ADD: lower the GSO limits of `ifname` (on `ctr`, a socket in the container's namespace) to the
 * plan's. When `undo` is given, restoring the values found is pushed onto it (for a failed ADD).
 * Returns what was set (undefined: nothing).
 */
export function limitGso(ctr: Rtnl, ifname: string, cfg: BandwidthConfig, mode: ResolvedMode, undo?: UndoStack, found?: Link): GsoPlan | undefined {
  const link = found ?? ctr.getLink(ifname);
  const want = planFor(cfg, mode, link.mtu);
  const now = link.gso;
  if (!want || !now) return undefined; // a kernel that reports no GSO limits cannot take them either
  const c = changesFor(want, now);
  if (!c) return want;
  ctr.setLink(link.index, c);
  undo?.push(`restore the GSO limits of ${ifname}`, () => ctr.setLink(link.index, { gsoMaxSize: now.maxSize, gsoMaxSegs: now.maxSegs, gsoIpv4MaxSize: now.ipv4MaxSize }));
  return want;
}

/**
 * ADD's one call: the GSO limit, then `attach` (the attachment, which undoes itself when it fails);
 * when either fails, the limits are restored. `ctr` is a socket in the container's namespace;
 * `found`, the interface as this call already read it there (else it is read again).
 */
export function withGsoLimit<T>(ctr: Rtnl, ifname: string, cfg: BandwidthConfig, mode: ResolvedMode, attach: () => T, found?: Link): T {
  return new UndoStack().runSync((undo) => {
    step("limit the container's GSO size", () => limitGso(ctr, ifname, cfg, mode, undo, found));
    return attach();
  });
}

/** CHECK: the container interface's GSO limits are at most what ADD set (error 104 naming the limit). */
export function checkGso(netns: string, ifname: string, cfg: BandwidthConfig, mode: ResolvedMode): void {
  Rtnl.with(netns, (nl) => {
    const link = nl.getLink(ifname);
    const want = planFor(cfg, mode, link.mtu);
    if (!want || !link.gso) return;
    const over: string[] = [];
    if (link.gso.maxSize !== undefined && link.gso.maxSize > want.maxSize) over.push(`gso_max_size ${link.gso.maxSize}, want at most ${want.maxSize}`);
    if (link.gso.ipv4MaxSize !== undefined && link.gso.ipv4MaxSize > want.maxSize) over.push(`gso_ipv4_max_size ${link.gso.ipv4MaxSize}, want at most ${want.maxSize}`);
    if (link.gso.maxSegs !== undefined && link.gso.maxSegs > want.maxSegs) over.push(`gso_max_segs ${link.gso.maxSegs}, want at most ${want.maxSegs}`);
    if (over.length) throw new CniError(Code.CheckFailed, `ebpf-bandwidth: the GSO limit of ${ifname} in the container is above the shaped rate's`, over.join("; "));
  });
}
