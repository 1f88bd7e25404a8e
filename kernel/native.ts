// Loads the tscni_native addon (native/tscni_native.c). In the single executable the addon is an
// embedded asset, written once to a root-only, content-addressed file and dlopen'ed from there
// (dlopen needs a path). In development it is loaded from build/.
import * as fs from "node:fs";
import * as path from "node:path";
import { CniError, Code } from "../core/errors";
import { runDir } from "./rundir";
import { seaAsset } from "./sea";
import { errnoName } from "./errno";

export interface Native {
  setns(fd: number, nstype: number): void;
  netlinkOpen(protocol: number, rcvTimeoutMs: number): number;
  netlinkSend(fd: number, buf: Buffer): number;
  netlinkRecv(fd: number, buf: Buffer): number;
  flock(fd: number, op: number): void;
  /** flock that waits at most timeoutMs (woken by a timer aimed at the calling thread): true = locked. */
  flockTimed(fd: number, op: number, timeoutMs: number): boolean;
  bpf(cmd: number, attr: Buffer): number;
  addressOf(buf: Buffer): bigint;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  gettid(): number;
  unshare(flags: number): void;
  /** The daemon's socket (cli/daemon): listen, accept with a timeout (-1: none), peer [pid, uid, gid]. */
  unixListen(path: string, backlog: number): number;
  unixAccept(fd: number, timeoutMs: number): number;
  peerCred(fd: number): [number, number, number];
  /** [bytes (-1 timeout, 0 end of stream), ...received fds (close-on-exec, caller closes)]. */
  recvWithFds(fd: number, buf: Buffer, timeoutMs: number): number[];
  /** close(2) a descriptor the addon made (fs.closeSync in a worker thread warns about those). */
  close(fd: number): void;
  /** Has the peer of a connected socket closed or shut down its side (poll POLLRDHUP, no wait)? */
  peerGone(fd: number): boolean;
  /** Send without blocking: bytes sent, or -1 (buffer full, peer gone). */
  sendNoWait(fd: number, buf: Buffer): number;
  /** Send all of buf within timeoutMs: false on timeout or a peer that went away. */
  sendAll(fd: number, buf: Buffer, timeoutMs: number): boolean;
}

/** Errors thrown by the addon carry these: it gives errno and syscall, native() adds the name (kernel/errno.ts). */
export interface SysError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export const isSysError = (e: unknown, code?: string): e is SysError =>
  e instanceof Error && typeof (e as Partial<SysError>).errno === "number" && (code === undefined || (e as SysError).code === code);

const ASSET = "tscni_native.node";
/** sha256 prefix of the embedded addon, computed by scripts/build.mjs (hashing at run time costs start-up). */
declare const TSCNI_NATIVE_DIGEST: string | undefined;
let loaded: Native | undefined;
let loadedFrom: string | undefined;

export function native(): Native {
  if (loaded) return loaded;
  const bytes = seaAsset(ASSET);
  loaded = namingErrnos(bytes ? loadFromSea(bytes) : loadFromBuild());
  return loaded;
}

/** The file the addon was loaded from (another thread of the daemon loads the same one). */
export function nativeAddonPath(): string {
  native();
  return loadedFrom!;
}

/** The addon's functions, each giving an error it throws the name of its errno as `code`. */
function namingErrnos(addon: Native): Native {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(addon as unknown as Record<string, unknown>)) {
    out[name] = typeof fn !== "function" ? fn : (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof Error && typeof (e as Partial<SysError>).errno === "number") (e as SysError).code = errnoName((e as SysError).errno);
        throw e;
      }
    };
  }
  return out as unknown as Native;
}

function loadFromSea(bytes: Buffer): Native {
  const digest =
    typeof TSCNI_NATIVE_DIGEST === "string"
      ? TSCNI_NATIVE_DIGEST
      : process.getBuiltinModule("node:crypto").createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const file = path.join(dir, `tscni_native-${digest}.node`);
  if (!isTrustedFile(file, bytes.length)) {
    // Write to a unique name then rename: concurrent plugin processes never see a partial file.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, bytes, { mode: 0o500 });
    fs.renameSync(tmp, file);
  }
  const mod = { exports: {} as Native };
  process.dlopen(mod, file);
  loadedFrom = file;
  return mod.exports;
}

/** A directory only our uid can enter: /run/tscni as root (kernel/rundir.ts), else a private dir under the tmpdir. */
function cacheDir(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return runDir();
  const dir = path.join(process.env.XDG_RUNTIME_DIR || "/tmp", `tscni-${uid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
  throw new CniError(Code.IOFailure, `refusing ${dir} to unpack the native addon into`, `it must be a directory of uid ${uid} with mode 0700`);
}

function isTrustedFile(file: string, size: number): boolean {
  try {
    const st = fs.lstatSync(file);
    return st.isFile() && st.size === size && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function loadFromBuild(): Native {
  const candidates = [
    process.env.TSCNI_NATIVE,
    path.resolve(process.cwd(), "build/tscni_native.node"),
    repoRelative("../build/tscni_native.node"),
  ].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (fs.existsSync(p)) {
      const mod = { exports: {} as Native };
      process.dlopen(mod, p);
      loadedFrom = p;
      return mod.exports;
    }
  }
  throw new Error(`native addon not found (run "npm run build"); looked in: ${candidates.join(", ")}`);
}

function repoRelative(rel: string): string {
  try {
    // import.meta.url exists under vitest/tsx (ESM); the bundle never reaches this path.
    const here = new URL(".", import.meta.url).pathname;
    return path.resolve(here, rel);
  } catch {
    return rel;
  }
}
