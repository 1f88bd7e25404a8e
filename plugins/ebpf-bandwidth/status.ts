// STATUS: can an ADD succeed right now? bpffs at the pin root, BPF programs load, the attach mode
// works (TCX probed; clsact + cls_bpf tried), and the qdiscs the chosen mode needs exist (probed on
// a scratch IFB that is deleted again: the only reliable test, since built-in qdiscs leave no
// trace in /proc or /sys/module).
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import { BPFFS_ROOT, ensureBpffs, isBpffs, loadCollection, objectSpec, probeSchFq } from "../../kernel/bpf/index";
import { attachClsact } from "../../kernel/bpf/clsact";
import { Rtnl, isNetlinkError } from "../../kernel/netlink/index";
import type { BandwidthConfig } from "./config";
import { ensureHtbRoot, setClass } from "./htb";
import type { AttachMode } from "./hooks";
import type { ResolvedMode } from "./plan";

const unavailable = (msg: string, e?: unknown) => new CniError(Code.PluginNotAvailable, `ebpf-bandwidth: ${msg}`, e ? String((e as Error).message ?? e) : "");

export function checkBpffs(pinRoot: string): void {
  if (pinRoot === BPFFS_ROOT || pinRoot.startsWith(`${BPFFS_ROOT}/`)) {
    try {
      ensureBpffs(BPFFS_ROOT);
    } catch (e) {
      throw unavailable(`no bpf filesystem at ${BPFFS_ROOT} and mounting one failed`, e);
    }
    return;
  }
  // A custom root must be on bpffs: it, or the nearest ancestor that exists (makePinDir creates the rest).
  let p = pinRoot;
  while (!fs.existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  if (!isBpffs(p)) throw unavailable(`pinRoot ${pinRoot} is not on a bpf filesystem`);
}

export function checkBpf(): void {
  try {
    loadCollection(objectSpec("classify")).close();
  } catch (e) {
    throw unavailable("cannot load BPF programs", e);
  }
}

/** Run `fn` on a scratch IFB in the current namespace; the IFB is deleted afterwards. */
function withScratchIfb<T>(fn: (nl: Rtnl, idx: number) => T): T {
  const nl = Rtnl.open();
  const name = `tscnip${(process.pid % 1e8).toString(36)}`.slice(0, 15);
  try {
    let idx: number;
    try {
      idx = nl.addIfb({ name }).index;
    } catch (e) {
      if (isNetlinkError(e, "EEXIST")) idx = nl.getLink(name).index;
      else throw unavailable("cannot create an ifb device", e);
    }
    try {
      return fn(nl, idx);
    } finally {
      try {
        nl.deleteLink(idx);
      } catch {
        /* already gone */
      }
    }
  } finally {
    nl.close();
  }
}

/** HTB + class + bfifo + tbf (htb mode, and the IFB side of edt mode); fq (edt); clsact + cls_bpf (+ mirred) (clsact attach). */
export function probeQdiscs(mode: ResolvedMode, attach: AttachMode): void {
  withScratchIfb((nl, idx) => {
    if (mode !== "police") {
      try {
        ensureHtbRoot(nl, idx, 1, 0);
        setClass(nl, idx, { major: 1, minor: 1, rateBits: 8_000_000, burst: 65536, queue: 65536 });
        // The segmenting leaf towards the container (plan.ts segmentBytes) is a TBF.
        setClass(nl, idx, { major: 1, minor: 2, rateBits: 8_000_000, burst: 65536, queue: 65536, segment: 3036 });
      } catch (e) {
        throw unavailable("the htb, bfifo or tbf qdisc is missing", e);
      }
    }
    if (mode === "edt") {
      try {
        nl.replaceQdisc(idx, { kind: "fq" });
      } catch (e) {
        throw unavailable("the fq qdisc (needed by edt mode) is missing", e);
      }
    }
    if (attach === "clsact") {
      const c = loadCollection(objectSpec("classify"), { programs: ["classify_egress", "classify_ingress"] });
      try {
        try {
          attachClsact(c.program("classify_egress"), { link: idx, direction: "egress" });
        } catch (e) {
          throw unavailable("cannot attach a cls_bpf filter to a clsact qdisc", e);
        }
        // The IFB redirect on clsact is a mirred action (the device is down: nothing is redirected).
        if (mode !== "police") {
          try {
            attachClsact(c.program("classify_ingress"), { link: idx, direction: "ingress", mirredRedirect: idx });
          } catch (e) {
            throw unavailable("cannot add a cls_bpf filter with a mirred action (act_mirred missing?)", e);
          }
        }
      } finally {
        c.close();
      }
    }
  });
}

let fqCache: boolean | undefined;
/**
 * Is sch_fq there? The kernel's own config answers definitively and costs no netlink round trip;
 * without it (or for a module), try an fq qdisc on a scratch IFB.
 */
export function fqAvailable(): boolean {
  if (fqCache !== undefined) return fqCache;
  const p = probeSchFq();
  if (p.source === "config" && !p.available) return (fqCache = false);
  if (p.available && p.source !== "modules") return (fqCache = true);
  try {
    fqCache = withScratchIfb((nl, idx) => {
      try {
        nl.replaceQdisc(idx, { kind: "fq" });
        return true;
      } catch {
        return false;
      }
    });
  } catch {
    fqCache = false;
  }
  return fqCache;
}

export function status(cfg: BandwidthConfig, mode: ResolvedMode, attach: AttachMode): void {
  checkBpffs(cfg.pinRoot);
  checkBpf();
  if (mode !== "police" || attach === "clsact") probeQdiscs(mode, attach);
}
