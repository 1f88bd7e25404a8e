// ebpf-bandwidth: per-container rate limits with eBPF tc programs (TCX) steering into short HTB
// queues; a drop-in for the reference `bandwidth` plugin's configuration. Each verb is a few
// lines here; the work is in config (parse), plan (layout), attach/check/gc/status (kernel).
import { CniError, Code, configError } from "../../core/errors";
import type { CmdArgs, Plugin } from "../../core/plugin";
import type { Result } from "../../core/result/types";
import { step, Teardown } from "../../core/undo";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { Rtnl } from "../../kernel/netlink/index";
import { isNetnsMissing } from "../../kernel/netns";
import { addAttachment, findHostVeth, mayHavePins, teardown } from "./attach";
import { checkAttachment } from "./check";
import { type BandwidthConfig, parseConfig } from "./config";
import { gc } from "./gc";
import { checkGso, withGsoLimit } from "./gso";
import { resolveAttach } from "./hooks";
import { withLock } from "./ifb";
import { attachmentPath } from "./names";
import type { ResolvedMode } from "./plan";
import { fqAvailable, status } from "./status";

const config = (a: CmdArgs) => parseConfig(a.conf.raw, a.conf.runtimeConfig, a.conf.name);

/**
 * Whether `auto` picks EDT where sch_fq exists. Off: EDT and HTB measured the same where both ran
 * (docs/ebpf-bandwidth.md, "EDT mode"), EDT covers only the to-container direction, and only HTB
 * has been measured on real hardware. "mode": "edt" selects it (error 50 without sch_fq).
 */
export const AUTO_PICKS_EDT = false;

/** auto = edt where sch_fq exists if AUTO_PICKS_EDT, else htb; an explicit edt without sch_fq is error 50. */
export function resolveMode(cfg: BandwidthConfig, fq: () => boolean = fqAvailable, autoEdt = AUTO_PICKS_EDT): ResolvedMode {
  if (cfg.mode === "police" || cfg.mode === "htb") return cfg.mode;
  if (cfg.mode === "auto" && !autoEdt) return "htb";
  const have = fq();
  if (cfg.mode === "edt" && !have) {
    throw new CniError(Code.PluginNotAvailable, "ebpf-bandwidth: edt mode needs the sch_fq qdisc, which this kernel lacks", 'use "mode": "auto" or "htb" (HTB queues, no sch_fq needed), or "police"');
  }
  return have ? "edt" : "htb";
}

function prevResult(a: CmdArgs): Result {
  if (!a.conf.prevResult) throw configError("must be called as chained plugin", "no prevResult");
  return a.conf.prevResult;
}

const dirOf = (cfg: BandwidthConfig, a: CmdArgs) => attachmentPath(cfg.pinRoot, cfg.network, a.containerID, a.ifname);

/**
 * DEL's look for the host veth failed because there definitely is none to clean: the namespace is
 * gone or is no network namespace, the interface is gone, or its peer is no host veth of
 * prevResult's. Anything else (an interrupted dump, a refused socket) is a failed look, reported.
 */
const NO_VETH_CODES: ReadonlySet<number> = new Set([Code.UnknownContainer, Code.InvalidNetworkConfig, Code.InvalidNetNS]);
const noVeth = (e: unknown) => isNetnsMissing(e) || (e instanceof CniError && NO_VETH_CODES.has(e.code));

export const plugin: Plugin = {
  name: "ebpf-bandwidth",
  supportedVersions: SUPPORTED_VERSIONS,

  async add(a) {
    const cfg = config(a);
    const prev = prevResult(a);
    if (!cfg.ingress && !cfg.egress) return prev; // nothing to limit: pass the result on, like the reference
    const mode = resolveMode(cfg);
    const attach = resolveAttach(cfg.attach);
    if (!a.netns) throw new CniError(Code.InvalidEnvironmentVariables, "CNI_NETNS is required");
    // One socket in the node and one in the container for the whole call.
    Rtnl.with(undefined, (nl) =>
      Rtnl.with(a.netns, (ctr) => {
        const host = step("find the host veth", () => findHostVeth(prev, a.netns, a.ifname, nl, ctr));
        withLock(() => {
          const dir = dirOf(cfg, a);
          // A retried ADD starts clean. Without the pin directory (ADD's first step) no earlier ADD of
          // this attachment changed anything: nothing to look at.
          if (mayHavePins(dir)) step("remove what an earlier ADD left", () => teardown(nl, dir, cfg.ifbName, host.index));
          // The container's GSO limit first (gso.ts), restored when the attachment fails.
          withGsoLimit(ctr, a.ifname, cfg, mode, () => addAttachment(nl, cfg, mode, attach, host, dir), host.peer);
        });
      }),
    );
    return prev;
  },

  async del(a) {
    const cfg = config(a);
    const parts = new Teardown();
    // The veth may already be gone (bridge DEL ran first, or the netns was deleted): the pins
    // alone say what to undo. When the veth still exists, also clean an HTB left without pins.
    parts.attempt(undefined, () =>
      Rtnl.with(undefined, (nl) => {
        let hostIndex: number | undefined;
        if (a.netns && a.conf.prevResult) {
          try {
            hostIndex = findHostVeth(a.conf.prevResult, a.netns, a.ifname, nl).index;
          } catch (e) {
            if (!noVeth(e)) parts.fail(e, "find the host veth");
          }
        }
        withLock(() => teardown(nl, dirOf(cfg, a), cfg.ifbName, hostIndex));
      }),
    );
    parts.finish();
  },

  async check(a) {
    const cfg = config(a);
    const prev = prevResult(a);
    const mode = resolveMode(cfg);
    const host = findHostVeth(prev, a.netns, a.ifname);
    Rtnl.with(undefined, (nl) => checkAttachment(nl, cfg, mode, host, dirOf(cfg, a)));
    checkGso(a.netns, a.ifname, cfg, mode);
  },

  async gc(a) {
    const cfg = config(a);
    Rtnl.with(undefined, (nl) => withLock(() => gc(nl, cfg, a.validAttachments)));
  },

  async status(a) {
    const cfg = config(a);
    status(cfg, resolveMode(cfg), resolveAttach(cfg.attach));
  },
};
