// Where the compiled BPF objects come from: embedded in the single executable as assets
// "bpf/<name>.o", or, in development and tests, the committed copies in bpf/obj/ (kept in step
// with the sources by `node bpf/build.mjs --check`). TSCNI_BPF_DIR overrides both.
import * as fs from "node:fs";
import * as path from "node:path";
import { seaAsset } from "../sea";
import { loaderError } from "./errors";
import { type CollectionSpec, collectionSpec } from "./spec";

export const OBJECTS = ["classify", "police", "edt"] as const;
export type ObjectName = (typeof OBJECTS)[number];

export function objectBytes(name: ObjectName): Buffer {
  const dir = process.env.TSCNI_BPF_DIR;
  if (dir) return fs.readFileSync(path.join(dir, `${name}.o`));
  const embedded = seaAsset(`bpf/${name}.o`);
  if (embedded) return embedded;
  for (const base of repoRoots()) {
    const file = path.join(base, "bpf", "obj", `${name}.o`);
    if (fs.existsSync(file)) return fs.readFileSync(file);
  }
  throw loaderError(`BPF object ${name}.o not found (looked in ${repoRoots().join(", ")})`);
}

const specs = new Map<ObjectName, CollectionSpec>();

/** The parsed object, cached: parsing is pure, so one parse serves every load in the process. */
export function objectSpec(name: ObjectName): CollectionSpec {
  let s = specs.get(name);
  if (!s) specs.set(name, (s = collectionSpec(objectBytes(name))));
  return s;
}

function repoRoots(): string[] {
  const roots = [process.cwd()];
  try {
    roots.push(path.resolve(new URL(".", import.meta.url).pathname, "../.."));
  } catch {
    /* bundled: no import.meta.url */
  }
  return roots;
}
