// Which executables on CNI_PATH are this build: the single executable itself, or a shim built with
// it (native/shim carries `tscni-shim-digest:<digest>`). A plugin found there runs in-process
// instead of in a new process (and, inside the daemon, instead of a shim calling back into it).
import * as fs from "node:fs";

declare const TSCNI_BUILD_DIGEST: string | undefined;
const SOURCE_DIGEST = "0".repeat(32);
/** The build digest scripts/build.mjs bakes into the bundle and the shim; zeros when run from source. */
export const BUILD_DIGEST = typeof TSCNI_BUILD_DIGEST === "string" ? TSCNI_BUILD_DIGEST : SOURCE_DIGEST;

const SHIM_MAX_BYTES = 4 << 20;
// Keyed by what identifies a file's content on disk, so a replaced shim is looked at again.
const verdicts = new Map<string, boolean>();

function sameFile(a: fs.Stats, b: string): boolean {
  try {
    const sb = fs.statSync(b);
    return a.dev === sb.dev && a.ino === sb.ino;
  } catch {
    return false;
  }
}

export function isThisBuild(file: string, selfPath = process.execPath): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (sameFile(st, selfPath)) return true;
  if (!st.isFile() || st.size > SHIM_MAX_BYTES || BUILD_DIGEST === SOURCE_DIGEST) return false;
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  let v = verdicts.get(key);
  if (v === undefined) {
    try {
      v = fs.readFileSync(file).includes(`tscni-shim-digest:${BUILD_DIGEST}`);
    } catch {
      v = false;
    }
    verdicts.set(key, v);
  }
  return v;
}
