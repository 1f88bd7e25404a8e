// STATUS: can an ADD succeed right now? bpffs at the pin root, BPF programs load, TCX attach is
// supported, and the qdiscs the chosen mode needs exist (probed on a scratch IFB that is deleted
// again: the only reliable test, since built-in qdiscs leave no trace in /proc or /sys/module).
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import { BPFFS_ROOT, ensureBpffs, haveTcx, isBpffs, loadCollection, objectSpec } from "../../kernel/bpf/index";
import { Rtnl, isNetlinkError } from "../../kernel/netlink/index";
import type { BandwidthConfig } from "./config";
import { ensureHtbRoot, setClass } from "./htb";
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
  // A custom root must be on bpffs: it, or the nearest ancestor that exists (pinDir creates the rest).
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
  if (!haveTcx()) throw unavailable("this kernel has no TCX (needs Linux 6.6+); the clsact fallback is not implemented in this build");
}

/** Create a scratch IFB with HTB + class + bfifo, then delete it. */
export function probeQdiscs(): void {
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
      ensureHtbRoot(nl, idx, 1, 0);
      setClass(nl, idx, { major: 1, minor: 1, rateBits: 8_000_000, burst: 65536, queue: 65536 });
    } catch (e) {
      throw unavailable("the htb or bfifo qdisc is missing", e);
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

export function status(cfg: BandwidthConfig, mode: ResolvedMode): void {
  checkBpffs(cfg.pinRoot);
  checkBpf();
  if (mode === "htb") probeQdiscs();
}
