// One network's cache file in `<dataDir>/.tscni-host-local/` (what it holds and when it is
// trusted: disk-store.ts). All of it is optional: a cache directory that is missing, a symlink,
// not a directory or read-only, or a full file system, means no cache — a scan, as the reference
// does — never a failed command, and never a write outside dataDir.
//
// Format: a JSON header line, then the Index body. The header records the network's full name
// (long names share file names, see side-files.ts) and the body's length in bytes (two such
// networks may rename each other's temp file into place half-written): either mismatch is a miss.
import * as fs from "node:fs";
import { Dir, errno, isSpaceError, readBuffer, unlinkQuiet, writeNew } from "./dir";
import { cacheFileName, legacyReserveTmp } from "./side-files";

/** What the network directory looked like when the cache was written. */
export interface Stamp {
  boot: string;
  ino: string;
  mtime: string;
  ctime: string;
}

interface Header extends Stamp {
  v: 4;
  net: string;
  len: number;
}

let bootId: string | undefined;
function readBootId(): string {
  try {
    bootId ??= fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    bootId = "";
  }
  return bootId;
}

export const stampOf = (st: fs.BigIntStats): Stamp => ({ boot: readBootId(), ino: String(st.ino), mtime: String(st.mtimeNs), ctime: String(st.ctimeNs) });

export class CacheFile {
  private dir: Dir | undefined;
  /** False when the cache directory is unusable, or its inodes were given back in this call. */
  private usable = true;
  private readonly file: string;

  /** `cacheDir` is `<dataDir>/.tscni-host-local`; only called under the network's lock. */
  constructor(
    private readonly cacheDir: string,
    private readonly network: string,
  ) {
    this.file = cacheFileName(network);
    try {
      this.dir = Dir.open(cacheDir);
    } catch (e) {
      // Missing: created when the cache is first written. A symlink or a file: never touched.
      if (errno(e) !== "ENOENT") this.usable = false;
    }
    const legacy = legacyReserveTmp(network);
    if (this.dir && legacy) unlinkQuiet(this.dir.at(legacy)); // an earlier version's crash debris
  }

  get enabled(): boolean {
    return this.usable;
  }

  /** The cached body, when its header matches this network and the directory's `stamp`. */
  load(stamp: Stamp): string | undefined {
    const buf = this.dir && readBuffer(this.dir.at(this.file));
    const nl = buf ? buf.indexOf(0x0a) : -1;
    if (!buf || nl < 0) return undefined;
    let h: Header;
    try {
      h = JSON.parse(buf.toString("utf8", 0, nl)) as Header;
    } catch {
      return undefined;
    }
    const ok = h?.v === 4 && h.net === this.network && h.len === buf.length - nl - 1 &&
      h.boot === stamp.boot && h.ino === stamp.ino && h.mtime === stamp.mtime && h.ctime === stamp.ctime;
    return ok ? buf.toString("utf8", nl + 1) : undefined;
  }

  /** Write the cache (temp file, then rename); on failure only the cache is lost. */
  save(stamp: Stamp, body: string): void {
    if (!this.usable) return;
    const tmp = `${this.file}.tmp`;
    try {
      if (!this.dir) {
        try {
          fs.mkdirSync(this.cacheDir, 0o755);
        } catch (e) {
          if (errno(e) !== "EEXIST") throw e;
        }
        this.dir = Dir.open(this.cacheDir);
      }
      const header: Header = { v: 4, net: this.network, len: Buffer.byteLength(body), ...stamp };
      unlinkQuiet(this.dir.at(tmp)); // a crash's leftover, or a symlink: removed, never written through
      writeNew(this.dir.at(tmp), `${JSON.stringify(header)}\n${body}`);
      fs.renameSync(this.dir.at(tmp), this.dir.at(this.file));
    } catch (e) {
      if (this.dir) unlinkQuiet(this.dir.at(tmp));
      if (isSpaceError(e)) this.drop();
      else this.usable = false;
    }
  }

  /** This network's cache cannot hold its index (an owner with NUL or \x01): no cache. */
  remove(): void {
    if (this.dir) unlinkQuiet(this.dir.at(this.file));
  }

  /** No room left: give our inodes back (dropCaches); no cache for the rest of this call. */
  drop(): void {
    this.usable = false;
    this.close();
    dropCaches(this.cacheDir);
  }

  close(): void {
    this.dir?.close();
    this.dir = undefined;
  }
}

/**
 * Give our inodes back when the file system is full: every cache file in `cacheDir` (each only
 * an optimisation; a missing one is a rescan, even for a network another process is sealing, so
 * no lock is needed), then the directory if that leaves it empty.
 */
export function dropCaches(cacheDir: string): void {
  let dir: Dir;
  try {
    dir = Dir.open(cacheDir);
  } catch {
    return; // none, or not ours to touch
  }
  try {
    for (const d of fs.readdirSync(dir.at(), { withFileTypes: true })) {
      if (d.isFile() && /\.cache(\.tmp)?$/.test(d.name)) unlinkQuiet(dir.at(d.name));
    }
    fs.rmdirSync(cacheDir); // by name: a symlink put there meanwhile fails with ENOTDIR
  } catch {
    /* not empty (other files), or gone */
  } finally {
    dir.close();
  }
}
