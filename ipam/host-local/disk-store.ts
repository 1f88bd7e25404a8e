// The reference's on-disk store, byte for byte: `<dataDir>/<network>/<ip>` holding
// `containerID\r\nifname` (or just the ID, from old versions), `last_reserved_ip.<N>` holding
// the address last handed out by range set N, and an empty `lock` file taken with flock(2) for
// the whole operation (the reference takes the same lock per range set, so the two serialise).
//
// Crash safety. The reference creates a reservation with O_CREAT|O_EXCL and then writes it: a
// process killed between the two leaves an empty file that blocks the address forever. We write
// the content to a private temp file first and link(2) it to the address's name: link fails
// with EEXIST if the name exists (the same exclusive-create semantics) and the name appears with
// its full content, so there is no moment at which a half-written reservation is visible. An
// empty or blank reservation (left by the reference, or by a power cut) is debris: everybody
// writes reservations under the lock, so one seen under the lock is not in progress; ADD reuses
// its address and GC removes it. `last_reserved_ip.N` is written in place as the reference does;
// a torn one only costs the round-robin position (an unparsable value restarts at rangeStart).
//
// The DEL/ADD index. The reference reads every file in the directory on every ADD (duplicate
// check) and DEL. We keep a cache of the directory — address → content — in
// `<dataDir>/.tscni-host-local/<network>.cache`, outside the network directory, so the
// reference never sees it (it walks only `<dataDir>/<network>`; no network can be called
// `.tscni-host-local` since names start with a letter or digit). The cache is trusted only if
// nothing touched the directory since we wrote it: after each change we set the directory's
// mtime to a marker — a time at least a second in the past with random nanoseconds — and store
// the marker (plus ctime, inode and boot id) in the cache. Creating or removing any entry, by
// the reference or anyone, resets mtime/ctime to the current time, which can never equal the
// marker; so a mismatch means "rescan the directory" and a match means the cache is exact.
// Nothing the reference reads changes: the store stays byte-compatible in both directions.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../../core/errors";
import { FileLock } from "../../kernel/flock";
import { Index } from "./cache-index";
import { parseIP } from "./ip";
import { ownerOf, type Store } from "./store";

export const CACHE_DIR = ".tscni-host-local";
const LAST = "last_reserved_ip.";
const IP_NAME = /^[0-9a-fA-F:.]+$/;
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW } = fs.constants;

const ioError = (what: string, e: unknown) =>
  e instanceof CniError ? e : new CniError(Code.IOFailure, `host-local store: ${what}`, (e as NodeJS.ErrnoException)?.code ?? String(e));

const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/** `<dataDir>/<network>`, refusing any network name that could name another directory. */
export function networkDir(dataDir: string, network: string): string {
  if (network === "" || network === "." || network === ".." || /[/\0]/.test(network) || network.startsWith(".")) {
    throw new CniError(Code.InvalidNetworkConfig, "invalid network name for the host-local store", JSON.stringify(network));
  }
  const root = path.resolve(dataDir);
  const dir = path.join(root, network);
  if (path.dirname(dir) !== root) throw new CniError(Code.InvalidNetworkConfig, "invalid network name for the host-local store", network);
  return dir;
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

/** The cache file: this JSON header line, then the Index body (see Index). */
interface CacheHeader {
  v: 3;
  boot: string;
  ino: string;
  mtime: string;
  ctime: string;
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
    readonly dir: string,
    private readonly cacheDir: string,
    private readonly lock: FileLock,
    private readonly index: Index,
    /** The cache body the index was loaded from; undefined after a rescan. */
    private readonly base: string | undefined,
  ) {
    this.fromCache = base !== undefined;
    this.dirty = !this.fromCache;
  }

  static open(dataDir: string, network: string, opts: OpenOptions = { create: true }): DiskStore | undefined {
    const dir = networkDir(dataDir, network);
    let lock: FileLock | undefined;
    try {
      if (!opts.create && !fs.existsSync(dir)) return undefined;
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) throw new CniError(Code.IOFailure, "host-local store: not a directory (symbolic links are refused)", dir);
      const lockPath = path.join(dir, "lock");
      // Created as the reference creates it; O_NOFOLLOW so a planted symlink cannot redirect it.
      fs.closeSync(fs.openSync(lockPath, O_RDONLY | O_CREAT | O_NOFOLLOW, 0o750));
      lock = FileLock.acquire(lockPath);
      const cacheDir = path.join(path.dirname(dir), CACHE_DIR);
      fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
      fs.rmSync(path.join(cacheDir, `${network}.reserve.tmp`), { force: true }); // left by a crash mid-reserve; only used under this lock
      const cached = loadCache(dir, path.join(cacheDir, `${network}.cache`));
      return cached ? new DiskStore(dir, cacheDir, lock, cached.index, cached.body) : new DiskStore(dir, cacheDir, lock, scan(dir), undefined);
    } catch (e) {
      lock?.release();
      throw ioError(`cannot open ${dir}`, e);
    }
  }

  private get network(): string {
    return path.basename(this.dir);
  }

  reserve(ip: string, id: string, ifname: string, rangeID: number): boolean {
    const target = this.file(ip);
    const existing = this.index.byIP.get(ip);
    if (existing !== undefined && existing !== "") return false;
    this.dirty = true;
    if (existing !== undefined) removeIfBlank(target);
    if (!this.createExclusive(target, ownerOf(id, ifname))) {
      this.index.set(ip, readOr(target, "").trim());
      return false;
    }
    this.index.set(ip, ownerOf(id, ifname));
    try {
      const fd = fs.openSync(path.join(this.dir, LAST + rangeID), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644);
      try {
        fs.writeSync(fd, ip);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      // As the reference: failing to record the position fails the reservation.
      this.release(ip);
      throw ioError(`cannot write ${LAST}${rangeID}`, e);
    }
    return true;
  }

  release(ip: string): void {
    this.dirty = true;
    try {
      fs.unlinkSync(this.file(ip));
    } catch (e) {
      if (errno(e) !== "ENOENT") throw ioError(`cannot remove reservation ${ip}`, e);
    }
    this.index.drop(ip);
  }

  owner(ip: string): string | undefined {
    const c = this.index.byIP.get(ip);
    return c === undefined || c === "" ? undefined : c;
  }

  reread(ip: string): string | undefined {
    const c = readOr(this.file(ip), undefined);
    if (c === undefined) this.index.drop(ip);
    else this.index.set(ip, c.trim());
    return c === undefined || c.trim() === "" ? undefined : c;
  }

  list(): ReadonlyMap<string, string> {
    return this.index.byIP;
  }

  ownedBy(owner: string): readonly string[] {
    return this.index.owned(owner);
  }

  lastReservedIP(rangeID: number): string | undefined {
    return readOr(path.join(this.dir, LAST + rangeID), undefined);
  }

  /** The store can take new reservations (STATUS): a write test, not just permission bits. */
  assertWritable(): void {
    try {
      fs.accessSync(this.dir, fs.constants.W_OK);
      const probe = path.join(this.cacheDir, `${this.network}.probe`);
      fs.writeFileSync(probe, "");
      fs.unlinkSync(probe);
    } catch (e) {
      throw ioError(`${this.dir} is not writable`, e);
    }
  }

  /** Record the cache and its marker when anything changed, then unlock. */
  close(): void {
    try {
      if (this.dirty) this.seal();
    } finally {
      this.lock.release();
    }
  }

  private file(ip: string): string {
    // Only names that are IP addresses ever reach the file system: no path can be formed.
    if (!IP_NAME.test(ip) || !parseIP(ip)) throw new CniError(Code.Internal, "host-local store: not an address", ip);
    return path.join(this.dir, ip);
  }

  private createExclusive(target: string, content: string): boolean {
    const tmp = path.join(this.cacheDir, `${this.network}.reserve.tmp`);
    // Unlink first: a leftover from a crash after link() shares its inode with a reservation.
    fs.rmSync(tmp, { force: true });
    try {
      writeNew(tmp, content);
      try {
        fs.linkSync(tmp, target);
        return true;
      } catch (e) {
        if (errno(e) === "EEXIST") return false;
        if (errno(e) !== "EXDEV" && errno(e) !== "EPERM") throw e;
      }
      // The network directory is on another file system than dataDir: plain exclusive create.
      try {
        writeNew(target, content);
        return true;
      } catch (e) {
        if (errno(e) === "EEXIST") return false;
        throw e;
      }
    } catch (e) {
      throw ioError(`cannot create reservation ${path.basename(target)}`, e);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  private seal(): void {
    try {
      const before = fs.statSync(this.dir);
      const marker = Math.floor(Date.now() / 1000) - 2 + Math.random();
      fs.utimesSync(this.dir, before.atime, marker);
      const st = fs.statSync(this.dir, { bigint: true });
      const header: CacheHeader = { v: 3, boot: readBootId(), ino: String(st.ino), mtime: String(st.mtimeNs), ctime: String(st.ctimeNs) };
      const file = path.join(this.cacheDir, `${this.network}.cache`);
      const body = this.index.serialise(this.base);
      if (body === undefined) {
        fs.rmSync(file, { force: true });
        return;
      }
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(header)}\n${body}`);
      fs.renameSync(`${file}.tmp`, file);
    } catch {
      // Only the cache is lost: its marker no longer matches and the next call rescans.
    }
  }
}

function loadCache(dir: string, file: string): { index: Index; body: string } | undefined {
  let text: string;
  let h: CacheHeader;
  try {
    text = fs.readFileSync(file, "utf8");
    h = JSON.parse(text.slice(0, text.indexOf("\n"))) as CacheHeader;
  } catch {
    return undefined;
  }
  const st = fs.statSync(dir, { bigint: true });
  if (h?.v !== 3 || h.boot !== readBootId() || h.ino !== String(st.ino) || h.mtime !== String(st.mtimeNs) || h.ctime !== String(st.ctimeNs)) {
    return undefined;
  }
  const body = text.slice(text.indexOf("\n") + 1);
  const index = Index.parse(body);
  return index ? { index, body } : undefined;
}

/** Every file named like an address, with its content: the reference's view of the store. */
function scan(dir: string): Index {
  const m = new Index();
  // One reused buffer and plain open/read/close: half the cost of readFileSync per small file.
  const buf = Buffer.allocUnsafe(4096);
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!d.isFile() || !IP_NAME.test(d.name) || !parseIP(d.name)) continue;
    let fd: number;
    try {
      fd = fs.openSync(path.join(dir, d.name), O_RDONLY | O_NOFOLLOW);
    } catch {
      continue; // removed meanwhile (cannot happen under the lock) or a symlink
    }
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      m.set(d.name, (n < buf.length ? buf.toString("utf8", 0, n) : fs.readFileSync(path.join(dir, d.name), "utf8")).trim());
    } catch {
      /* unreadable: not a reservation we can match */
    } finally {
      fs.closeSync(fd);
    }
  }
  return m;
}

function readOr<T>(file: string, fallback: T): string | T {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

function writeNew(file: string, content: string): void {
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  try {
    fs.writeSync(fd, content);
  } finally {
    fs.closeSync(fd);
  }
}

/** Debris removal: only a reservation still blank under the lock is removed. */
function removeIfBlank(file: string): void {
  if (readOr(file, "x").trim() === "") fs.rmSync(file, { force: true });
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
