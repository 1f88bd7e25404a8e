// Feature probes. Each answers from the running kernel (not its version string) and is cached per
// process; minimum versions are recorded so tests can tell "absent" (skip) from "should be here
// but is broken" (fail), as cilium/ebpf does.
import * as fs from "node:fs";
import * as os from "node:os";
import { AttachType, ProgType } from "./constants";
import { BpfError } from "./errors";
import * as sys from "./syscall";

/** Kernel release a feature first appeared in. */
export const MIN_KERNEL = {
  tcx: [6, 6],
  /** fq honours skb->tstamp (EDT) since 4.20. */
  schFqEdt: [4, 20],
} as const;

export function kernelVersion(release = os.release()): [number, number, number] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function kernelAtLeast(min: readonly [number, number], release?: string): boolean {
  const [a, b] = kernelVersion(release);
  return a > min[0] || (a === min[0] && b >= min[1]);
}

/** `r0 = -1; exit` — the smallest valid SCHED_CLS program (returns TCX_NEXT). */
export function trivialProgram(): Buffer {
  const insns = Buffer.alloc(16);
  insns[0] = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
  insns.writeInt32LE(-1, 4);
  insns[8] = 0x95; // BPF_JMP | BPF_EXIT
  return insns;
}

const cache = new Map<string, boolean>();

/**
 * TCX: attach a trivial program to an ifindex that cannot exist. A kernel with TCX looks the
 * device up and says ENODEV; one without rejects the attach type with EINVAL. Nothing is attached
 * either way, no namespace is touched.
 */
export function haveTcx(): boolean {
  const hit = cache.get("tcx");
  if (hit !== undefined) return hit;
  const prog = sys.progLoad({ type: ProgType.SCHED_CLS, insns: trivialProgram(), license: "Apache-2.0", name: "tscni_probe" });
  let ok: boolean;
  try {
    sys.closeFd(sys.linkCreate({ progFd: prog, ifindex: 0x7fffffff, attachType: AttachType.TCX_INGRESS }));
    ok = true; // cannot happen, but an attach that worked is proof enough
  } catch (e) {
    if (!(e instanceof BpfError)) throw e;
    if (e.code === "ENODEV") ok = true;
    else if (e.code === "EINVAL" || e.code === "EOPNOTSUPP") ok = false;
    else throw e;
  } finally {
    sys.closeFd(prog);
  }
  cache.set("tcx", ok);
  return ok;
}

export interface FqProbe {
  available: boolean;
  /** How we know: "config" (/proc/config.gz), "kallsyms", "modules", or "unknown" (assumed absent). */
  source: string;
}

/**
 * sch_fq (needed by the EDT program). Without a netlink round trip we read the kernel's own
 * config, then its symbols, then the module tree. A definitive probe is creating an fq qdisc on
 * lo in a scratch netns; do that through kernel/netlink when the answer must be exact.
 */
export function probeSchFq(): FqProbe {
  const cfg = kernelConfig();
  if (cfg) {
    const m = /^CONFIG_NET_SCH_FQ=(y|m)$/m.exec(cfg);
    if (!m) return { available: false, source: "config" };
    if (m[1] === "y") return { available: true, source: "config" };
    return { available: moduleExists("sch_fq"), source: "modules" };
  }
  if (hasKernelSymbol("fq_enqueue")) return { available: true, source: "kallsyms" };
  if (moduleExists("sch_fq")) return { available: true, source: "modules" };
  return { available: false, source: "unknown" };
}

export function haveSchFq(): boolean {
  return probeSchFq().available;
}

export interface Features {
  kernel: [number, number, number];
  tcx: boolean;
  schFq: boolean;
}

export function features(): Features {
  return { kernel: kernelVersion(), tcx: haveTcx(), schFq: haveSchFq() };
}

function kernelConfig(): string | undefined {
  try {
    // zlib is loaded only here: importing it at the top costs ~14 ms of every plugin start.
    const zlib = process.getBuiltinModule("node:zlib");
    return zlib.gunzipSync(fs.readFileSync("/proc/config.gz")).toString("utf8");
  } catch {
    try {
      return fs.readFileSync(`/boot/config-${os.release()}`, "utf8");
    } catch {
      return undefined;
    }
  }
}

function hasKernelSymbol(name: string): boolean {
  try {
    return new RegExp(` [tT] ${name}$`, "m").test(fs.readFileSync("/proc/kallsyms", "utf8"));
  } catch {
    return false;
  }
}

function moduleExists(name: string): boolean {
  const dir = `/lib/modules/${os.release()}`;
  for (const f of ["modules.builtin", "modules.dep"]) {
    try {
      if (new RegExp(`/${name}\\.ko`).test(fs.readFileSync(`${dir}/${f}`, "utf8"))) return true;
    } catch {
      /* no module tree */
    }
  }
  return false;
}
