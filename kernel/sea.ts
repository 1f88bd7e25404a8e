// Assets of the single executable (Node SEA): the addon, the BPF objects, the shim. One accessor
// for all of them; undefined when running from source (development, tests under tsx/vitest).

interface SeaApi {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

/** The asset's bytes (a view into the executable, not a copy), or undefined outside the executable. */
export function seaAsset(key: string): Buffer | undefined {
  let sea: SeaApi;
  try {
    sea = process.getBuiltinModule("node:sea") as SeaApi;
  } catch {
    return undefined;
  }
  return sea.isSea() ? Buffer.from(sea.getRawAsset(key)) : undefined;
}
