// Names of host-local's own files, and the network-name limit; pure. The store of network N is
// the directory `<dataDir>/N` (the reference's layout), so N is one path component: at most
// NAME_MAX bytes. Our extra files must work for every such N:
// - `<network dir>/.tscni-host-local.tmp`: the reservation temp file (and STATUS's write probe),
//   used only under the network's lock, so no two networks can ever share one;
// - `<network dir>/.tscni-host-local.lock.tmp`: a fresh lock file replacing a broken `lock` symlink;
// - `<dataDir>/.tscni-host-local/<cacheFileName(N)>` and `… .tmp`: the cache and its temp file.
import { configError } from "../../core/errors";

export const NAME_MAX = 255;
export const CACHE_DIR = ".tscni-host-local";
export const TMP = ".tscni-host-local.tmp";
export const LOCK_TMP = ".tscni-host-local.lock.tmp";

const CACHE = ".cache";
/** Bytes of a long name kept in its cache file name: readable, and room for `~hash.cache.tmp`. */
const PREFIX = 200;

/** Code 7 when the store of `network` cannot exist (ADD, CHECK, GC, STATUS; DEL has nothing to do). */
export function checkNetworkName(network: string): void {
  const n = Buffer.byteLength(network);
  if (n > NAME_MAX) {
    throw configError(`invalid "name"`, `network name "${network}" is ${n} bytes; host-local keeps each network in a directory of that name, at most ${NAME_MAX} bytes (NAME_MAX)`);
  }
}

/**
 * The cache file of `network` in CACHE_DIR: `<network>.cache` while `<network>.cache.tmp` fits in
 * NAME_MAX, else `<first 200 bytes>~<FNV-1a 64>.cache`. Long names may share a file (same prefix
 * and hash): the cache header records the full name, and a cache of another network is a miss.
 * `~` never occurs in a network name, so the two forms cannot meet.
 */
export function cacheFileName(network: string): string {
  if (Buffer.byteLength(network) + CACHE.length + ".tmp".length <= NAME_MAX) return network + CACHE;
  return `${network.slice(0, PREFIX)}~${fnv1a64(network)}${CACHE}`;
}

/** The reserve temp file of earlier versions (in CACHE_DIR), removed when found; only short names could have one. */
export function legacyReserveTmp(network: string): string | undefined {
  const name = `${network}.reserve.tmp`;
  return Buffer.byteLength(name) <= NAME_MAX ? name : undefined;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;

/** FNV-1a, 64 bits, over the UTF-8 bytes of `s`, as 16 hex digits (no node:crypto on the CNI path). */
export function fnv1a64(s: string): string {
  let h = FNV_OFFSET;
  for (const b of Buffer.from(s, "utf8")) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK;
  return h.toString(16).padStart(16, "0");
}
