// Machine-state snapshots for the reliability runs: everything a plugin could leave behind, taken
// inside the throwaway node namespace (and, optionally, container namespaces), plus the files under
// the run's data root and the pins under its bpffs. Two snapshots are compared line by line; any
// difference is a leak (or, for bad input, a change that should not have happened).
//
// One `sh` per namespace gathers all kernel views, so a snapshot costs one process start, not 15.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface SnapshotScope {
  /** Node namespace name (as for `ip netns exec`). */
  node: string;
  /** Container namespaces to look into as well (links and addresses only). */
  containers?: string[];
  /** Directories whose files are recorded (dataDir roots, the tmp root around them). */
  fileRoots?: string[];
  /** bpffs directories whose pins are recorded. */
  pinRoots?: string[];
}

export interface Snapshot {
  /** Sorted "section: line" entries; compare with diffSnapshots. */
  lines: string[];
}

// Kernel views, one section per line prefix. /sys/class/net is the namespace's own (ip netns exec
// remounts /sys), so the per-device tc loops see exactly this namespace's devices.
const NODE_SCRIPT = `
echo @@link; ip -j -d link show
echo @@addr; ip -j addr show
echo @@route4; ip -j -4 route show table all
echo @@route6; ip -j -6 route show table all
echo @@rule4; ip -j -4 rule show
echo @@qdisc; tc -j qdisc show
for d in $(ls /sys/class/net); do
  echo "@@class $d"; tc -j class show dev "$d"
  echo "@@filter-ingress $d"; tc -j filter show dev "$d" ingress 2>/dev/null || echo '[]'
  echo "@@filter-egress $d"; tc -j filter show dev "$d" egress 2>/dev/null || echo '[]'
done
echo @@iptables; iptables-save 2>/dev/null
echo @@ip6tables; ip6tables-save 2>/dev/null
echo @@nft; nft list ruleset 2>/dev/null
echo @@sysctl; for f in ipv4/ip_forward ipv6/conf/all/forwarding; do echo "$f=$(cat /proc/sys/net/$f 2>/dev/null)"; done
`;

const CONTAINER_SCRIPT = `
echo @@link; ip -j -d link show
echo @@addr; ip -j addr show
echo @@route4; ip -j -4 route show table all
echo @@route6; ip -j -6 route show table all
`;

function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  let cur = "";
  for (const line of out.split("\n")) {
    if (line.startsWith("@@")) {
      cur = line.slice(2);
      m.set(cur, "");
    } else if (cur) {
      m.set(cur, m.get(cur)! + line + "\n");
    }
  }
  return m;
}

const json = (s: string | undefined): any[] => {
  try {
    const v = JSON.parse(s || "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
};

/** Stable, counter-free lines per kernel object; volatile fields (stats, operstate, timers) left out. */
function kernelLines(prefix: string, out: string): string[] {
  const s = sections(out);
  const lines: string[] = [];
  const idx = new Map<number, string>();
  for (const l of json(s.get("link"))) idx.set(l.ifindex, l.ifname);
  for (const l of json(s.get("link"))) {
    const up = (l.flags as string[] | undefined)?.includes("UP") ? "up" : "down";
    lines.push(`${prefix}link ${l.ifname} kind=${l.linkinfo?.info_kind ?? "-"} master=${l.master ?? "-"} mtu=${l.mtu} ${up}`);
  }
  // IPv6 link-local addresses and their routes are made by the kernel for every link, some only
  // after DAD or a carrier change (seconds later): noise, and the link itself is recorded anyway.
  for (const l of json(s.get("addr"))) {
    for (const a of l.addr_info ?? []) if (!String(a.local).startsWith("fe80:")) lines.push(`${prefix}addr ${l.ifname} ${a.local}/${a.prefixlen}`);
  }
  for (const fam of ["route4", "route6"]) {
    for (const r of json(s.get(fam))) {
      if (fam === "route6" && (String(r.dst).startsWith("fe80:") || r.dst === "ff00::/8")) continue;
      lines.push(`${prefix}${fam} ${r.type ?? "unicast"} ${r.dst} dev=${r.dev ?? "-"} via=${r.gateway ?? "-"} table=${r.table ?? "main"} proto=${r.protocol ?? "-"}`);
    }
  }
  for (const r of json(s.get("rule4"))) lines.push(`${prefix}rule4 ${r.priority} ${r.src ?? "all"} ${r.table}`);
  for (const q of json(s.get("qdisc"))) {
    lines.push(`${prefix}qdisc ${q.dev} ${q.kind} handle=${q.handle} parent=${q.parent ?? (q.root ? "root" : "-")}`);
  }
  for (const [k, v] of s) {
    const m = /^(class|filter-ingress|filter-egress) (.+)$/.exec(k);
    if (!m) continue;
    for (const o of json(v)) {
      const { stats: _s, stats2: _s2, xstats: _x, ...rest } = o as Record<string, unknown>;
      lines.push(`${prefix}${m[1]} ${m[2]} ${JSON.stringify(rest)}`);
    }
  }
  for (const fam of ["iptables", "ip6tables"]) {
    for (const line of (s.get(fam) ?? "").split("\n")) {
      if (!line || line.startsWith("#")) continue;
      lines.push(`${prefix}${fam} ${line.replace(/\[\d+:\d+\]/g, "[0:0]")}`);
    }
  }
  for (const line of (s.get("nft") ?? "").split("\n")) if (line.trim()) lines.push(`${prefix}nft ${line.trim()}`);
  for (const line of (s.get("sysctl") ?? "").split("\n")) if (line) lines.push(`${prefix}sysctl ${line}`);
  return lines;
}

function runIn(ns: string, script: string): string {
  const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-c", script], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0 && !r.stdout) throw new Error(`snapshot in ${ns} failed: ${r.stderr}`);
  return r.stdout;
}

/** Every file below `root`: "file <rel> <sha-ish content>" (content inline when short). */
function fileLines(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = path.join(dir, e.name);
      const rel = path.relative(root, p);
      if (e.isDirectory()) {
        out.push(`dir ${rel}`);
        walk(p);
      } else if (e.isSymbolicLink()) {
        out.push(`symlink ${rel} -> ${fs.readlinkSync(p)}`);
      } else {
        let content = "";
        try {
          content = fs.readFileSync(p).subarray(0, 200).toString("latin1").replace(/[^\x20-\x7e]/g, "·");
        } catch {
          content = "<unreadable>";
        }
        out.push(`file ${rel} ${content}`);
      }
    }
  };
  walk(root);
  return out.map((l) => `${root}: ${l}`);
}

/** bpffs pins (the kernel's own *.debug iterators at every bpffs root left out). */
function pinLines(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => !p.endsWith(".debug")).map((p) => `pin ${root}/${p}`);
}

/**
 * ebpf-bandwidth keeps its IFB, idle, between pods (DEL leaves it for the next one; GC removes
 * it): an idle one (no class on it) is left out, so whether a run happens to leave or remove it is
 * no difference. With a class on it, every line stays: a leaked class shows, and the device with it.
 */
export const IFB = "tscni-ifb0";
function withoutIdleIfb(lines: string[]): string[] {
  if (lines.some((l) => l.startsWith(`class ${IFB} `))) return lines;
  return lines.filter((l) => !new RegExp(`(^|[ :=])${IFB}( |$|:)`).test(l));
}

export function snapshot(scope: SnapshotScope): Snapshot {
  const lines = withoutIdleIfb(kernelLines("", runIn(scope.node, NODE_SCRIPT)));
  for (const c of scope.containers ?? []) {
    if (fs.existsSync(`/var/run/netns/${c}`)) lines.push(...kernelLines(`[${c}] `, runIn(c, CONTAINER_SCRIPT)));
  }
  for (const r of scope.fileRoots ?? []) lines.push(...fileLines(r));
  for (const r of scope.pinRoots ?? []) lines.push(...pinLines(r));
  return { lines: lines.sort() };
}

export interface DiffOptions {
  /**
   * Lines matching one of these are compared by their key only (the part before the first
   * space-separated value that may legitimately change: host-local's last_reserved_ip and cache
   * files change content with every allocation; that is state, not a leak).
   */
  loose?: RegExp[];
}

const key = (line: string, loose: RegExp[]) => {
  for (const re of loose) {
    const m = re.exec(line);
    if (m) return m[0];
  }
  return line;
};

/** Lines added ("+ ...") and removed ("- ...") between two snapshots; empty means identical. */
export function diffSnapshots(before: Snapshot, after: Snapshot, o: DiffOptions = {}): string[] {
  const loose = o.loose ?? [];
  const count = (s: Snapshot) => {
    const m = new Map<string, number>();
    for (const l of s.lines) m.set(key(l, loose), (m.get(key(l, loose)) ?? 0) + 1);
    return m;
  };
  const a = count(before);
  const b = count(after);
  const out: string[] = [];
  for (const [l, n] of b) for (let i = a.get(l) ?? 0; i < n; i++) out.push(`+ ${l}`);
  for (const [l, n] of a) for (let i = b.get(l) ?? 0; i < n; i++) out.push(`- ${l}`);
  return out.sort();
}

/** host-local's per-allocation bookkeeping files, compared by presence only (see DiffOptions). */
export const HOST_LOCAL_LOOSE = [/^\S+: file \S*last_reserved_ip\.\d+/, /^\S+: file \S*\.tscni-host-local\/[^ ]+\.cache(?= |$)/];
