// What goes into the tscni image: the single executable and the shared libraries it links
// (it is a copy of the node binary), plus iptables (nft and legacy variants) with its extension
// modules, which the bridge plugin runs for ipMasq when it runs inside the daemon container.
// Everything is taken from the build machine, so the image matches what was built and tested.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Entry } from "./oci-image";

export const IMAGE_BIN = "/usr/local/bin/tscni";
const XTABLES = ["/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi"];
const IPTABLES_NAMES = ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"];

/** The libraries `ldd` resolves for `file` (the dynamic loader included), as absolute paths. */
export function sharedLibraries(file: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [file], { encoding: "utf8" });
  } catch {
    return []; // static, or not an ELF object
  }
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function fileEntry(src: string, dest = src): Entry {
  const st = fs.statSync(src); // follows symlinks: the image holds the real bytes under the linked name
  return { path: dest, type: "file", data: fs.readFileSync(src), mode: st.mode & 0o777 };
}

export interface Contents {
  entries: Entry[];
  iptables: boolean;
}

export function imageContents(executable: string, o: { iptables?: boolean } = {}): Contents {
  const files = new Map<string, Entry>();
  const add = (src: string, dest = src) => {
    if (!files.has(dest)) files.set(dest, fileEntry(src, dest));
    for (const lib of sharedLibraries(src)) if (!files.has(lib)) files.set(lib, fileEntry(lib));
  };
  add(executable, IMAGE_BIN);
  const xtables = XTABLES.filter((f) => fs.existsSync(f));
  const iptables = (o.iptables ?? true) && xtables.length > 0;
  const links: Entry[] = [];
  if (iptables) {
    for (const x of xtables) add(x);
    // The extension modules (MASQUERADE, comment, mark, ...) are dlopen()ed by name at run time.
    const modDir = [`/usr/lib/${archTriplet()}/xtables`, "/usr/lib/xtables", "/usr/lib64/xtables"].find((d) => fs.existsSync(d));
    if (modDir) for (const m of fs.readdirSync(modDir).filter((f) => f.endsWith(".so"))) add(path.join(modDir, m));
    // Debian's default variant (nft); the legacy one is there for nodes that use it.
    const multi = xtables.includes(XTABLES[0]!) ? "xtables-nft-multi" : "xtables-legacy-multi";
    for (const n of IPTABLES_NAMES) links.push({ path: `/usr/sbin/${n}`, type: "symlink", target: multi });
  }
  // /run/tscni (the daemon's socket, the addon) and /tmp exist in every container of it.
  const dirs: Entry[] = [
    { path: "/run", type: "dir", mode: 0o755 },
    { path: "/tmp", type: "dir", mode: 0o1777 },
  ];
  return { entries: [...dirs, ...files.values(), ...links], iptables };
}

function archTriplet(): string {
  return ({ x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" } as Record<string, string>)[process.arch] ?? `${process.arch}-linux-gnu`;
}
