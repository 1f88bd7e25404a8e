// A network configuration of an exact byte length, for tests of the stdin limit (core/limits.ts):
// `fields` plus a "pad" key of as many "x" as it takes.
export function paddedConfig(bytes: number, fields: Record<string, unknown>): Buffer {
  const base = Buffer.byteLength(JSON.stringify({ ...fields, pad: "" }));
  if (bytes < base) throw new Error(`a config of ${bytes} bytes cannot hold ${base} bytes of fields`);
  const out = Buffer.from(JSON.stringify({ ...fields, pad: "x".repeat(bytes - base) }));
  if (out.length !== bytes) throw new Error(`padded config is ${out.length} bytes, not ${bytes}`); // fields with non-ASCII text
  return out;
}
