// Configuration access with Go's encoding/json semantics: keys match case-insensitively (an exact
// match is not special: the last key that folds equal wins, as in Go), and wrong types are
// config errors naming the field path. Real configs in the wild rely on this ("bandWidth").
import { configError } from "./errors";

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The value stored under `key`, folding case like Go; undefined when absent or JSON null. */
export function field(obj: JsonObject, key: string): unknown {
  const want = key.toLowerCase();
  let found: unknown = undefined;
  for (const k of Object.keys(obj)) {
    if (k.toLowerCase() === want) found = obj[k];
  }
  return found === null ? undefined : found;
}

const where = (path: string) => (path ? `"${path}"` : "value");

export function optString(obj: JsonObject, key: string, path = key): string | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw configError(`invalid ${where(path)}`, `must be a string, got ${typeName(v)}`);
  return v;
}

export function optBool(obj: JsonObject, key: string, path = key): boolean | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw configError(`invalid ${where(path)}`, `must be a boolean, got ${typeName(v)}`);
  return v;
}

/** An integer in [min, max]; JSON numbers beyond 2^53 lose precision, so huge values are refused by range. */
export function optInt(obj: JsonObject, key: string, path = key, min = -(2 ** 53), max = 2 ** 53): number | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || !Number.isInteger(v)) {
    throw configError(`invalid ${where(path)}`, `must be an integer, got ${typeName(v)}`);
  }
  if (v < min || v > max) throw configError(`invalid ${where(path)}`, `${v} is out of range [${min}, ${max}]`);
  return v;
}

export function optObject(obj: JsonObject, key: string, path = key): JsonObject | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (!isObject(v)) throw configError(`invalid ${where(path)}`, `must be an object, got ${typeName(v)}`);
  return v;
}

export function optArray(obj: JsonObject, key: string, path = key): unknown[] | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw configError(`invalid ${where(path)}`, `must be an array, got ${typeName(v)}`);
  return v;
}

export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}
