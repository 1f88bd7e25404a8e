// `tscni stats [--pin-dir DIR]`: every attachment's counters as a table. BPF maps give bytes and
// packets per direction (and police drops / ECN marks); in HTB mode the queue drops and backlog
// live in the HTB class, so they are read from the kernel and added.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Direction, readShapingStats } from "../../kernel/bpf/index";
import { Rtnl, tcMinor } from "../../kernel/netlink/index";
import { inspect } from "./attach";
import { DEFAULT_PIN_ROOT } from "./config";
import { displayName } from "./names";

const subdirs = (dir: string) =>
  fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

export interface Row {
  network: string;
  attachment: string;
  device: string;
  direction: "to container" | "from container";
  rate: string;
  bytes: bigint;
  packets: bigint;
  drops: bigint;
  marks: bigint;
  backlog: number;
}

export function fmtBytes(n: bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) [v, i] = [v / 1024, i + 1];
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

const fmtRate = (bits: number) => (bits >= 1e9 ? `${+(bits / 1e9).toFixed(2)} Gbit` : bits >= 1e6 ? `${+(bits / 1e6).toFixed(2)} Mbit` : `${+(bits / 1e3).toFixed(1)} kbit`);

export function collect(root: string, nl: Rtnl | undefined): Row[] {
  const rows: Row[] = [];
  for (const network of subdirs(root)) {
    for (const attachment of subdirs(path.join(root, network))) {
      const dir = path.join(root, network, attachment);
      const st = inspect(dir);
      let stats: ReturnType<typeof readShapingStats>;
      try {
        stats = readShapingStats(dir);
      } catch {
        continue; // not one of ours / half removed
      }
      for (const d of ["egress", "ingress"] as Direction[]) {
        const link = st.links[d];
        const cfg = st.cfg[d];
        if (!link && !stats[d].packets) continue;
        const ifindex = link?.ifindex ?? 0;
        let device = ifindex ? `#${ifindex}` : "(gone)";
        let rate = cfg?.rate ? fmtRate(Number(cfg.rate) * 8) : "";
        let qdrops = 0;
        let backlog = 0;
        if (nl && ifindex) {
          device = nl.findLink(ifindex)?.name ?? device;
          // HTB mode: the class this direction steers into (on the veth, or on the shared IFB).
          const classDev = cfg?.redirectIfindex || ifindex;
          if (cfg?.classid) {
            try {
              // classify steers to a leaf; with the small-packet class that leaf has a parent
              // (the attachment's class, holding the cap) and a sibling: report the pair.
              const all = nl.listClasses(classDev);
              const leaf = all.find((k) => k.handle === cfg.classid);
              const top = leaf && tcMinor(leaf.parent) !== 0 ? all.find((k) => k.handle === leaf.parent) ?? leaf : leaf;
              if (top?.htb) rate = fmtRate(top.htb.rate);
              const leaves = top === leaf ? [leaf] : all.filter((k) => top && k.parent === top.handle);
              for (const l of leaves) {
                qdrops += l?.stats?.drops ?? 0;
                backlog += l?.stats?.backlog ?? 0;
              }
            } catch {
              /* device gone */
            }
          }
        }
        rows.push({
          network: displayName(network), attachment: displayName(attachment), device, direction: d === "egress" ? "to container" : "from container", rate,
          bytes: stats[d].bytes, packets: stats[d].packets, drops: stats[d].drops + BigInt(qdrops), marks: stats[d].marks, backlog,
        });
      }
    }
  }
  return rows;
}

export function render(rows: Row[]): string {
  const head = ["network", "attachment", "host dev", "direction", "limit", "bytes", "packets", "drops", "ecn marks", "queued"];
  const body = rows.map((r) => [
    r.network, r.attachment.length > 24 ? `${r.attachment.slice(0, 12)}…${r.attachment.slice(-11)}` : r.attachment, r.device, r.direction, r.rate,
    fmtBytes(r.bytes), String(r.packets), String(r.drops), String(r.marks), fmtBytes(BigInt(r.backlog)),
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 5 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd();
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(line)].join("\n") + "\n";
}

export async function printStats(opts: { pinDir?: string }): Promise<number> {
  const root = opts.pinDir ?? DEFAULT_PIN_ROOT;
  if (!fs.existsSync(root)) {
    process.stderr.write(`no attachments: ${root} does not exist\n`);
    return 1;
  }
  let nl: Rtnl | undefined;
  try {
    nl = Rtnl.open();
  } catch {
    nl = undefined;
  }
  try {
    const rows = collect(root, nl);
    if (rows.length === 0) {
      process.stdout.write(`no attachments under ${root}\n`);
      return 0;
    }
    process.stdout.write(render(rows));
    return 0;
  } catch (e) {
    process.stderr.write(`stats: ${(e as Error).message}\n`);
    return 1;
  } finally {
    nl?.close();
  }
}
