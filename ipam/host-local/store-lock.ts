// The store's lock: `<network dir>/lock`, held with flock(2) for the whole operation, the file
// the reference locks (it opens it O_RDONLY|O_CREAT, mode 0750, following symlinks). We open it
// with O_NOFOLLOW, so nothing is ever created through a symlink. When `lock` is a symlink:
// - to an existing regular file: that file is opened read-only, without O_CREAT, and locked —
//   the very file the reference locks, so the two still serialise;
// - dangling, looping, or to anything else: it is replaced by a fresh regular file (renamed over
//   it) under a flock on the network directory, so two of us cannot each replace it and end up
//   holding different files. The reference would create the target, possibly outside dataDir, or
//   fail; DEL must not be stuck behind it.
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import { FileLock } from "../../kernel/flock";
import { errno, storeError, unlinkQuiet, writeNew, type Dir } from "./dir";
import { LOCK_TMP } from "./side-files";

const { O_RDONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = fs.constants;
const LOCK = "lock";
/** Errors that mean a symlink leads nowhere usable. */
const BROKEN = new Set(["ENOENT", "ELOOP", "ENOTDIR"]);

/** `roomy` runs a step that creates a file, making room first if the file system is full. */
export function lockStore(dir: Dir, roomy: <T>(fn: () => T) => T = (fn) => fn()): FileLock {
  // Each round either locks or replaces a broken symlink; more rounds mean someone keeps changing it.
  for (let round = 0; round < 4; round++) {
    const fd = openLock(dir, roomy);
    if (fd === undefined) {
      replaceBrokenLink(dir, roomy);
      continue;
    }
    try {
      return FileLock.adopt(fd, dir.show(LOCK));
    } catch (e) {
      throw storeError(`cannot lock ${dir.show(LOCK)}`, e);
    }
  }
  throw new CniError(Code.IOFailure, `host-local store: cannot lock ${dir.show(LOCK)}`, "the symbolic link keeps changing");
}

/** A descriptor to lock, or undefined when `lock` is a symlink that leads to no regular file. */
function openLock(dir: Dir, roomy: <T>(fn: () => T) => T): number | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must fail below, not hang the open.
    fd = roomy(() => fs.openSync(dir.at(LOCK), O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o750));
  } catch (e) {
    if (errno(e) === "ELOOP") return openTarget(dir);
    throw storeError(`cannot open lock file ${dir.show(LOCK)}`, e);
  }
  if (fs.fstatSync(fd).isFile()) return fd;
  fs.closeSync(fd);
  throw new CniError(Code.IOFailure, `host-local store: cannot open lock file ${dir.show(LOCK)}`, "not a regular file");
}

/** `lock` is a symlink: its target opened read-only when that is an existing regular file. */
function openTarget(dir: Dir): number | undefined {
  try {
    if (!fs.statSync(dir.at(LOCK)).isFile()) return undefined;
    const fd = fs.openSync(dir.at(LOCK), O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fs.fstatSync(fd).isFile()) return fd;
    fs.closeSync(fd); // swapped meanwhile
    return undefined;
  } catch (e) {
    if (BROKEN.has(errno(e) ?? "")) return undefined;
    throw storeError(`cannot open lock file ${dir.show(LOCK)} (a symbolic link)`, e);
  }
}

function leadsToFile(dir: Dir): boolean {
  try {
    return fs.statSync(dir.at(LOCK)).isFile();
  } catch {
    return false;
  }
}

function replaceBrokenLink(dir: Dir, roomy: <T>(fn: () => T) => T): void {
  const guard = FileLock.adopt(fs.openSync(dir.at(), O_RDONLY | O_DIRECTORY), dir.show(""));
  const tmp = dir.at(LOCK_TMP);
  try {
    // Checked again under the guard: another process may have replaced it, or its target appeared.
    if (!fs.lstatSync(dir.at(LOCK)).isSymbolicLink() || leadsToFile(dir)) return;
    unlinkQuiet(tmp);
    roomy(() => writeNew(tmp, "", 0o750));
    fs.renameSync(tmp, dir.at(LOCK));
  } catch (e) {
    unlinkQuiet(tmp);
    if (errno(e) === "ENOENT") return; // removed meanwhile: the next round creates it
    throw storeError(`cannot replace the symbolic link ${dir.show(LOCK)}`, e);
  } finally {
    guard.release();
  }
}
