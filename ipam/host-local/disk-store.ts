// The reference's on-disk store, byte for byte: `<dataDir>/<network>/<ip>` holding
// `containerID\r\nifname` (or just the ID, from old versions), `last_reserved_ip.<N>` holding
// the address last handed out by range set N, and an empty `lock` file taken with flock(2) for
// the whole operation (the reference takes the same lock per range set, so the two serialise;
// store-lock.ts for a `lock` that is a symlink).
//
// Crash safety. The reference creates a reservation with O_CREAT|O_EXCL and then writes it: a
// process killed between the two leaves an empty file that blocks the address forever. We write
// the content to a temp file in the network directory first (`.tscni-host-local.tmp`, only ever
// present under the lock or after a crash, never named like an address so the reference ignores
// it) and link(2) it to the address's name: link fails with EEXIST if the name exists (the same
// exclusive-create semantics) and the name appears with its full content. An empty or blank
// reservation (left by the reference, or by a power cut) is debris: everybody writes
// reservations under the lock, so one seen under the lock is not in progress; ADD reuses its
// address and GC removes it. `last_reserved_ip.N` is written in place as the reference does; a
// torn one only costs the round-robin position (an unparsable value restarts at rangeStart).
//
// The DEL/ADD index. The reference reads every file in the directory on every ADD (duplicate
// check) and DEL. We keep a cache of the directory — address → content — in
// `<dataDir>/.tscni-host-local/` (cache-file.ts), outside the network directory, so the
// reference never sees it (it walks only `<dataDir>/<network>`; no network can be called
// `.tscni-host-local` since names start with a letter or digit). The cache is trusted only if
// nothing touched the directory since we wrote it: after each change we set the directory's
// mtime to a marker — a time at least a second in the past with random nanoseconds — and store
// the marker (plus ctime, inode and boot id) in the cache. Creating or removing any entry, by
// the reference or anyone, resets mtime/ctime to the current time, which can never equal the
// marker; so a mismatch means "rescan the directory" and a match means the cache is exact.
// Nothing the reference reads changes: the store stays byte-compatible in both directions.
//
// Our extra files are an optimisation and give way: when the file system runs out of inodes or
// space, the cache's files are removed and a reservation is created the reference's way, so we
// hold as many reservations as the reference on the same file system. Nothing is written
// through a symlink (dir.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import type { FileLock } from "../../kernel/flock";
import { CacheFile, dropCaches, stampOf } from "./cache-file";
import { Index } from "./cache-index";
import { Dir, errno, isSpaceError, readText, readTextStrict, storeError, unlinkQuiet, withRoom, writeAll, writeNew } from "./dir";
import { parseIP } from "../../core/ip";
import { CACHE_DIR, checkNetworkName, NAME_MAX, TMP } from "./side-files";
import { lockStore } from "./store-lock";
import { ownerOf, type Store } from "./store";

export { CACHE_DIR } from "./side-files";

const LAST = "last_reserved_ip.";
const IP_NAME = /^[0-9a-fA-F:.]+$/;
const { O_RDONLY, O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** `<dataDir>/<network>`, refusing any network name that could name another directory (code 7). */
export function networkDir(dataDir: string, network: string): string {
  if (network === "" || network === "." || network === ".." || /[/\0]/.test(network) || network.startsWith(".")) {
    throw new CniError(Code.InvalidNetworkConfig, "invalid network name for the host-local store", JSON.stringify(network));
  }
  checkNetworkName(network);
  const root = path.resolve(dataDir);
  const dir = path.join(root, network);
  if (path.dirname(dir) !== root) throw new CniError(Code.InvalidNetworkConfig, "invalid network name for the host-local store", network);
  return dir;
}

export interface OpenOptions {
  /** Create the directory when missing (ADD, STATUS); otherwise open() returns undefined. */
  create: boolean;
}

export class DiskStore implements Store {
  private dirty = false;
  /** True when the cache was loaded rather than rebuilt by a scan (for tests and the benchmark). */
  readonly fromCache: boolean;

  private constructor(
    private readonly net: Dir,
    private readonly lock: FileLock,
    private readonly cache: CacheFile,
    private readonly index: Index,
    /** The cache body the index was loaded from; undefined after a rescan. */
    private readonly base: string | undefined,
    /**
     * Files named like addresses that the scan could not read (address → error): not in the index,
     * never removed, reported by DEL and GC (they cannot tell whose they are). While there are
     * any, no cache is kept, so every call scans and sees them.
     */
    readonly unreadable: ReadonlyMap<string, string> = new Map(),
  ) {
    this.fromCache = base !== undefined;
    this.dirty = !this.fromCache;
  }

  /** The network directory's path. */
  get dir(): string {
    return this.net.shown;
  }

  static open(dataDir: string, network: string, opts: OpenOptions = { create: true }): DiskStore | undefined {
    // No directory can have such a name, so nothing can be stored under it (DEL succeeds).
    if (!opts.create && Buffer.byteLength(network) > NAME_MAX) return undefined;
    const dir = networkDir(dataDir, network);
    if (!opts.create && !exists(dir)) return undefined;
    const cacheDir = path.join(path.dirname(dir), CACHE_DIR);
    // Before the lock, only cache files can be given back when the file system is full (safe unlocked).
    const roomy = <T>(fn: () => T) => withRoom(fn, () => dropCaches(cacheDir));
    const net = openNetworkDir(dir, roomy);
    let lock: FileLock | undefined;
    let cache: CacheFile | undefined;
    try {
      lock = lockStore(net, roomy);
      unlinkQuiet(net.at(TMP)); // left by a crash, perhaps hard-linked to a reservation: never reused
      cache = new CacheFile(cacheDir, network);
      const body = cache.load(stampOf(fs.fstatSync(net.fd, { bigint: true })));
      const index = body === undefined ? undefined : Index.parse(body);
      if (index) return new DiskStore(net, lock, cache, index, body);
      const scanned = scan(net);
      return new DiskStore(net, lock, cache, scanned.index, undefined, scanned.unreadable);
    } catch (e) {
      cache?.close();
      lock?.release();
      net.close();
      throw storeError(`cannot open ${dir}`, e);
    }
  }

  reserve(ip: string, id: string, ifname: string, rangeID: number): boolean {
    const name = checkedName(ip);
    const existing = this.index.byIP.get(ip);
    if (existing !== undefined && existing !== "") return false;
    this.dirty = true;
    if (existing !== undefined) this.removeIfBlank(name);
    if (!this.createExclusive(name, ownerOf(id, ifname))) {
      this.refresh(ip); // taken meanwhile (or not a regular file, which the index leaves out, as scan does)
      return false;
    }
    this.index.set(ip, ownerOf(id, ifname));
    try {
      this.roomy(() => this.writeLast(LAST + rangeID, ip));
    } catch (e) {
      // As the reference: failing to record the position fails the reservation.
      this.release(ip);
      throw storeError(`cannot write ${this.net.show(LAST + rangeID)}`, e);
    }
    return true;
  }

  release(ip: string): void {
    const name = checkedName(ip);
    this.dirty = true;
    try {
      fs.unlinkSync(this.net.at(name));
    } catch (e) {
      if (errno(e) !== "ENOENT") throw storeError(`cannot remove reservation ${this.net.show(name)}`, e);
    }
    this.index.drop(ip);
  }

  owner(ip: string): string | undefined {
    const c = this.index.byIP.get(ip);
    return c === undefined || c === "" ? undefined : c;
  }

  /** Store.reread: a file that cannot be read is an error (host-local store, code 5), never "free". */
  reread(ip: string): string | undefined {
    let c: string | undefined;
    try {
      c = readTextStrict(this.net.at(checkedName(ip)));
    } catch (e) {
      throw storeError(`cannot read reservation ${this.net.show(ip)}`, e);
    }
    return this.note(ip, c);
  }

  /** ADD's look after losing a race: an unreadable file is simply not free (the allocator moves on). */
  private refresh(ip: string): void {
    this.note(ip, readText(this.net.at(checkedName(ip))));
  }

  private note(ip: string, c: string | undefined): string | undefined {
    if (c === undefined) this.index.drop(ip);
    else this.index.set(ip, c.trim());
    return c === undefined || c.trim() === "" ? undefined : c;
  }

  /** DEL and GC: the files named like addresses that could not be read are an error (code 5); they stay. */
  assertAllRead(): void {
    if (this.unreadable.size === 0) return;
    const list = [...this.unreadable].map(([ip, e]) => `${ip}: ${e}`).join("; ");
    throw new CniError(Code.IOFailure, `host-local store: cannot read ${this.unreadable.size} reservation(s) in ${this.net.shown}; they are left in place`, list);
  }

  list(): ReadonlyMap<string, string> {
    return this.index.byIP;
  }

  ownedBy(owner: string): readonly string[] {
    return this.index.owned(owner);
  }

  lastReservedIP(rangeID: number): string | undefined {
    return readText(this.net.at(LAST + rangeID));
  }

  /** The store can take new reservations (STATUS): a write test in the network directory. */
  assertWritable(): void {
    this.dirty = true; // the probe changes the directory: mark it again so the cache stays valid
    try {
      fs.accessSync(this.net.at(), fs.constants.W_OK);
      this.roomy(() => writeNew(this.net.at(TMP), ""));
      unlinkQuiet(this.net.at(TMP));
    } catch (e) {
      throw storeError(`${this.net.shown} is not writable`, e);
    }
  }

  /** Record the cache and its marker when anything changed, then unlock. */
  close(): void {
    try {
      if (this.dirty) this.seal();
    } finally {
      this.cache.close();
      this.lock.release();
      this.net.close();
    }
  }

  /**
   * Create reservation `name` holding `content` unless it exists: a temp file linked to the name
   * (which appears complete or not at all); where that fails — no room, no hard links — the
   * reference's plain exclusive create, after giving the cache's inodes back if room was short.
   */
  private createExclusive(name: string, content: string): boolean {
    const tmp = this.net.at(TMP);
    try {
      writeNew(tmp, content);
      try {
        fs.linkSync(tmp, this.net.at(name));
        return true;
      } catch (e) {
        if (errno(e) === "EEXIST") return false;
        throw e;
      } finally {
        unlinkQuiet(tmp);
      }
    } catch (e) {
      if (isSpaceError(e)) this.cache.drop();
    }
    try {
      writeNew(this.net.at(name), content);
      return true;
    } catch (e) {
      if (errno(e) === "EEXIST") return false;
      throw storeError(`cannot create reservation ${this.net.show(name)}`, e);
    }
  }

  /**
   * `last_reserved_ip.N`, rewritten in place as the reference does, unless it is not a plain file
   * of its own — a symlink, a hard link, a FIFO: then a fresh file is renamed over it.
   */
  private writeLast(name: string, ip: string): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.net.at(name), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o644);
      const st = fs.fstatSync(fd);
      if (st.isFile() && st.nlink === 1) {
        fs.ftruncateSync(fd, 0);
        writeAll(fd, ip);
        return;
      }
    } catch (e) {
      if (errno(e) !== "ELOOP" && errno(e) !== "ENXIO") throw e;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    const tmp = this.net.at(TMP);
    try {
      writeNew(tmp, ip);
      fs.renameSync(tmp, this.net.at(name));
    } finally {
      unlinkQuiet(tmp);
    }
  }

  /** Run `fn`; when the file system is full, give the cache's inodes back and run it once more. */
  private roomy<T>(fn: () => T): T {
    return withRoom(fn, () => this.cache.drop());
  }

  /** Debris removal: only a reservation still blank under the lock is removed. */
  private removeIfBlank(name: string): void {
    if (readText(this.net.at(name))?.trim() === "") unlinkQuiet(this.net.at(name));
  }

  private seal(): void {
    if (!this.cache.enabled) return;
    try {
      if (this.unreadable.size > 0) return this.cache.remove(); // the next call must scan and see them again
      const body = this.index.serialise(this.base);
      if (body === undefined) return this.cache.remove();
      const before = fs.fstatSync(this.net.fd);
      const marker = Math.floor(Date.now() / 1000) - 2 + Math.random();
      fs.futimesSync(this.net.fd, before.atime, marker);
      this.cache.save(stampOf(fs.fstatSync(this.net.fd, { bigint: true })), body);
    } catch {
      // Only the cache is lost: its marker no longer matches and the next call rescans.
    }
  }
}

/** Only names that are IP addresses ever reach the file system: no path can be formed. */
function checkedName(ip: string): string {
  if (!IP_NAME.test(ip) || !parseIP(ip)) throw new CniError(Code.Internal, "host-local store: not an address", ip);
  return ip;
}

function openNetworkDir(dir: string, roomy: <T>(fn: () => T) => T): Dir {
  try {
    roomy(() => fs.mkdirSync(dir, { recursive: true, mode: 0o755 }));
  } catch (e) {
    throw storeError(`cannot create ${dir}`, e);
  }
  try {
    return Dir.open(dir);
  } catch (e) {
    if (errno(e) === "ELOOP" || errno(e) === "ENOTDIR") {
      throw new CniError(Code.IOFailure, "host-local store: not a directory (symbolic links are refused)", dir);
    }
    throw storeError(`cannot open ${dir}`, e);
  }
}

/** The network directory exists; only a definite ENOENT says it does not (anything else is code 5). */
function exists(dir: string): boolean {
  try {
    fs.statSync(dir);
    return true;
  } catch (e) {
    if (errno(e) === "ENOENT") return false;
    throw storeError(`cannot open ${dir}`, e);
  }
}

/**
 * Every file named like an address, with its content: the reference's view of the store. A file
 * that cannot be opened or read (other than gone meanwhile, or a symlink) is listed in
 * `unreadable`: not a reservation we can match, and not one that is not there.
 */
function scan(dir: Dir): { index: Index; unreadable: Map<string, string> } {
  const m = new Index();
  const unreadable = new Map<string, string>();
  // One reused buffer and plain open/read/close: half the cost of readFileSync per small file.
  const buf = Buffer.allocUnsafe(4096);
  for (const d of fs.readdirSync(dir.at(), { withFileTypes: true })) {
    if (!d.isFile() || !IP_NAME.test(d.name) || !parseIP(d.name)) continue;
    let fd: number;
    try {
      fd = fs.openSync(dir.at(d.name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      // Removed meanwhile (cannot happen under the lock) or a symlink: not a reservation.
      if (errno(e) !== "ENOENT" && errno(e) !== "ELOOP") unreadable.set(d.name, errno(e) ?? String(e));
      continue;
    }
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      m.set(d.name, (n < buf.length ? buf.toString("utf8", 0, n) : fs.readFileSync(fd, "utf8")).trim());
    } catch (e) {
      unreadable.set(d.name, errno(e) ?? String(e));
    } finally {
      fs.closeSync(fd);
    }
  }
  return { index: m, unreadable };
}

/** Run `fn` with the store open and locked; the cache is sealed and the lock released after. */
export function withStore<T>(dataDir: string, network: string, opts: OpenOptions, fn: (s: DiskStore) => T): T | undefined {
  const s = DiskStore.open(dataDir, network, opts);
  if (!s) return undefined;
  try {
    return fn(s);
  } finally {
    s.close();
  }
}
