#!/usr/bin/env node
// Compiles every bpf/*.c to build/bpf/<name>.o with pinned flags. Compiled copies are committed in
// bpf/obj/: the loader and the unit tests read those, so neither tests nor packaging need clang,
// and `--check` (also run by test/unit/bpf-elf.test.ts where clang 14 exists) proves they match
// their sources, as cilium/ebpf does with its generated objects.
//
//   node bpf/build.mjs            compile to build/bpf/ (scripts/build.mjs embeds these); without
//                                 clang, copy the committed objects there instead
//   node bpf/build.mjs --update   compile and refresh bpf/obj/ (commit the result with the .c change)
//   node bpf/build.mjs --check    compile to a temp dir, compare with bpf/obj/, exit 1 on mismatch
//
// Determinism: clang is run from the repo root with relative paths, and debug info gets a fixed
// compilation directory, so the bytes do not depend on where the checkout lives. The compiler is
// pinned to clang 14 (Debian 12) because other versions emit different (equally valid) code.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLANG = process.env.BPF_CLANG || "clang";
const CLANG_MAJOR = "14";
const FLAGS = [
  "-O2", "-g", "-target", "bpf", "-mcpu=v3",
  "-Wall", "-Werror", "-nostdinc",
  "-Ibpf/include",
  "-fdebug-compilation-dir=.",
  `-fdebug-prefix-map=${root}=.`,
];

function clangVersion() {
  const out = execFileSync(CLANG, ["--version"], { encoding: "utf8" });
  const m = /clang version (\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the clang version from: ${out.split("\n")[0]}`);
  return { major: m[1], full: `${m[1]}.${m[2]}.${m[3]}` };
}

function sources() {
  return fs.readdirSync(path.join(root, "bpf")).filter((f) => f.endsWith(".c")).sort();
}

function compile(src, outDir) {
  const name = src.replace(/\.c$/, "");
  const out = path.join(outDir, `${name}.o`);
  execFileSync(CLANG, [...FLAGS, "-c", `bpf/${src}`, "-o", out], { cwd: root, stdio: "inherit" });
  return { name, out };
}

function haveClang() {
  try {
    execFileSync(CLANG, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function main() {
  const check = process.argv.includes("--check");
  const update = process.argv.includes("--update");
  const committed = path.join(root, "bpf", "obj");
  const outDir = path.join(root, "build", "bpf");
  if (!check && !update && !haveClang()) {
    fs.mkdirSync(outDir, { recursive: true });
    for (const f of fs.readdirSync(committed).filter((f) => f.endsWith(".o")).sort()) {
      fs.copyFileSync(path.join(committed, f), path.join(outDir, f));
    }
    console.log("bpf: no clang; using the committed objects from bpf/obj/");
    return;
  }
  const v = clangVersion();
  if (v.major !== CLANG_MAJOR) {
    const msg = `clang ${v.full} found, objects are pinned to clang ${CLANG_MAJOR}`;
    if (check) {
      console.error(`bpf: ${msg}; cannot check`);
      process.exit(2);
    }
    console.warn(`bpf: warning: ${msg}; output will differ from the committed objects`);
  }
  if (check) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-bpf-"));
    let bad = 0;
    try {
      const built = new Set();
      for (const src of sources()) {
        const { name, out } = compile(src, tmp);
        built.add(`${name}.o`);
        const ref = path.join(committed, `${name}.o`);
        if (!fs.existsSync(ref) || !fs.readFileSync(ref).equals(fs.readFileSync(out))) {
          console.error(`bpf: bpf/obj/${name}.o does not match bpf/${src} (run: node bpf/build.mjs)`);
          bad++;
        }
      }
      for (const f of fs.existsSync(committed) ? fs.readdirSync(committed) : []) {
        if (f.endsWith(".o") && !built.has(f)) {
          console.error(`bpf: bpf/obj/${f} has no source`);
          bad++;
        }
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    if (bad) process.exit(1);
    console.log(`bpf: ${sources().length} objects match their sources`);
    return;
  }
  fs.mkdirSync(outDir, { recursive: true });
  if (update) fs.mkdirSync(committed, { recursive: true });
  for (const src of sources()) {
    const { name, out } = compile(src, outDir);
    const ref = path.join(committed, `${name}.o`);
    if (update) {
      fs.copyFileSync(out, ref);
      console.log(`bpf: ${src} -> build/bpf/${name}.o, bpf/obj/${name}.o`);
    } else {
      const stale = !fs.existsSync(ref) || !fs.readFileSync(ref).equals(fs.readFileSync(out));
      console.log(`bpf: ${src} -> build/bpf/${name}.o${stale ? " (differs from bpf/obj: run with --update)" : ""}`);
    }
  }
}

main();
