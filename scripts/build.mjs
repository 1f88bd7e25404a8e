#!/usr/bin/env node
// Offline build of the single executable dist/tscni:
//   1. the N-API addon (gcc against Node's headers; no node-gyp download),
//   2. the eBPF objects (clang -target bpf, pinned flags; bpf/build.mjs),
//   3. one CommonJS bundle of the TypeScript (esbuild), and a second one of the Kubernetes client
//      (cli/kube/client.ts), which only `tscni install` loads (cli/kube/load.ts),
//   4. the static shim (native/shim), with the build digest baked in,
//   5. a V8 code cache of the bundle trained on real calls (scripts/train-code-cache.mjs),
//   6. a Node single-executable blob: pkg-config/boot.cjs as the entry, the bundle, its cache, the
//      Kubernetes client's bundle, the addon, the BPF objects and the shim as assets
//      (pkg-config/sea-config.json), injected into a copy of this node binary with postject.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: "inherit", ...opts });
const step = (msg) => process.stdout.write(`build: ${msg}\n`);
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));

fs.mkdirSync("build", { recursive: true });
// Several builds may run at once (developers, parallel test runs): every intermediate gets a
// per-process name and outputs appear by rename, so a reader never sees a half-written file.
const tag = `${process.pid}`;
const publish = (tmp, final) => fs.renameSync(tmp, final);
fs.mkdirSync("dist", { recursive: true });

step("native addon");
sh("gcc", ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-shared", "-fPIC", "-fvisibility=hidden",
  "-DNODE_GYP_MODULE_NAME=tscni_native", "-I/usr/include/node", "native/tscni_native.c", "-o", `build/tscni_native.node.${tag}`]);
publish(`build/tscni_native.node.${tag}`, "build/tscni_native.node");

const seaConfig = JSON.parse(fs.readFileSync("pkg-config/sea-config.json", "utf8"));
if (fs.existsSync("bpf/build.mjs")) {
  step("eBPF objects");
  sh(process.execPath, ["bpf/build.mjs"]);
  for (const f of fs.readdirSync("build/bpf").filter((f) => f.endsWith(".o")).sort()) {
    seaConfig.assets[`bpf/${f}`] = `build/bpf/${f}`;
  }
}

step("bundle");
// The build digest ties shims to the bundle they were built with: a shim hands its calls only to a
// daemon of the same digest. The bundle is built with a placeholder of the same length, then the
// digest (over both bundles, the addon, the BPF objects and the shim's source) replaces it.
const DIGEST_PLACEHOLDER = "tscni-build-digest-placeholder!!";
const esbuild = await import("esbuild");
const K8S_PACKAGE = "@kubernetes/client-node";
await esbuild.build({
  entryPoints: ["cli/main.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: `build/tscni.${tag}.cjs`,
  // The Kubernetes client is the second bundle below: every plugin exec parses this one.
  external: [K8S_PACKAGE],
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  // ESM dependencies (yargs) use import.meta.url; in the CJS bundle it must be defined.
  define: {
    TSCNI_VERSION: JSON.stringify(pkg.version),
    TSCNI_BUILD_DIGEST: JSON.stringify(DIGEST_PLACEHOLDER),
    TSCNI_NATIVE_DIGEST: JSON.stringify(createHash("sha256").update(fs.readFileSync("build/tscni_native.node")).digest("hex").slice(0, 16)),
    "import.meta.url": "__tscni_meta_url",
  },
  banner: { js: 'var __tscni_meta_url=require("url").pathToFileURL(typeof __filename==="string"?__filename:process.execPath).href;' },
  logLevel: "warning",
  logOverride: { "empty-import-meta": "silent" },
});

// The Kubernetes client (≈ 2 MB), a bundle of its own carried as the asset tscni-k8s.cjs: loaded
// (cli/kube/load.ts) only by `tscni install` when it reads the node's pod subnets from the API.
await esbuild.build({
  entryPoints: ["cli/kube/client.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: `build/tscni-k8s.${tag}.cjs`,
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  logLevel: "warning",
});
// A string of the library's in-cluster loader: in the second bundle, never in the main one.
const K8S_MARKER = "inClusterContext";
if (!fs.readFileSync(`build/tscni-k8s.${tag}.cjs`, "utf8").includes(K8S_MARKER)) throw new Error(`${K8S_PACKAGE} is missing from its bundle`);
if (fs.readFileSync(`build/tscni.${tag}.cjs`, "utf8").includes(K8S_MARKER)) throw new Error(`${K8S_PACKAGE} ended up in the main bundle`);
seaConfig.assets["tscni-k8s.cjs"] = `build/tscni-k8s.${tag}.cjs`;

const digestHash = createHash("sha256");
for (const f of [`build/tscni.${tag}.cjs`, `build/tscni-k8s.${tag}.cjs`, "build/tscni_native.node", "native/shim/tscni_shim.c", ...Object.values(seaConfig.assets).filter((f) => f.startsWith("build/bpf/"))]) {
  digestHash.update(fs.readFileSync(f));
}
const digest = digestHash.digest("hex").slice(0, 32);
const bundleText = fs.readFileSync(`build/tscni.${tag}.cjs`, "utf8");
if (!bundleText.includes(DIGEST_PLACEHOLDER)) throw new Error("build digest placeholder missing from the bundle");
fs.writeFileSync(`build/tscni.${tag}.cjs`, bundleText.replaceAll(DIGEST_PLACEHOLDER, digest));

/** core/limits.ts's STDIN_LIMIT (a literal `N` or `N << M`), which the shim enforces as the dispatcher does. */
function stdinLimit() {
  const m = /^export const STDIN_LIMIT = (\d+)(?: << (\d+))?;$/m.exec(fs.readFileSync("core/limits.ts", "utf8"));
  if (!m) throw new Error("core/limits.ts: no `export const STDIN_LIMIT = N;` or `= N << M;` for the shim's stdin limit");
  const limit = Number(m[1]) * 2 ** Number(m[2] ?? 0);
  if (!Number.isSafeInteger(limit) || limit <= 0 || limit >= 2 ** 31) throw new Error(`core/limits.ts: STDIN_LIMIT ${limit} out of range`);
  return limit;
}

step("shim (static)");
// Transport only (native/shim/tscni_shim.c): static, so it runs on any host; carried inside the
// executable as an asset and laid out by `tscni install`.
sh("gcc", ["-static", "-Os", "-s", "-Wall", "-Wextra", `-DTSCNI_DIGEST="${digest}"`, `-DTSCNI_STDIN_LIMIT=${stdinLimit()}`, "native/shim/tscni_shim.c", "-o", `build/tscni-shim.${tag}`]);
publish(`build/tscni-shim.${tag}`, "build/tscni-shim");
seaConfig.assets["tscni-shim"] = "build/tscni-shim";
fs.writeFileSync("build/digest", `${digest}\n`);

step("code cache");
// V8's code cache of the bundle, trained by running real calls through it (scripts/train-code-cache.mjs);
// as root in private network and mount namespaces, so ADD/CHECK/DEL build real state that vanishes.
const trainArgs = ["scripts/train-code-cache.mjs", `build/tscni.${tag}.cjs`, `build/tscni.${tag}.cache`];
const canUnshare = process.getuid?.() === 0 && spawnSync("unshare", ["-m", "-n", "true"]).status === 0;
if (canUnshare) sh("unshare", ["-m", "-n", process.execPath, ...trainArgs], { env: { ...process.env, TSCNI_TRAIN_REAL: "1" } });
else sh(process.execPath, trainArgs);
seaConfig.assets["tscni.cjs"] = `build/tscni.${tag}.cjs`;
seaConfig.assets["tscni.cjs.cache"] = `build/tscni.${tag}.cache`;

step("single-executable blob");
// The entry is a small loader that compiles the bundle asset with the trained cache.
seaConfig.main = "pkg-config/boot.cjs";
seaConfig.output = `build/sea-prep.${tag}.blob`;
fs.writeFileSync(`build/sea-config.${tag}.json`, JSON.stringify(seaConfig, null, 2));
sh(process.execPath, ["--experimental-sea-config", `build/sea-config.${tag}.json`], { stdio: ["ignore", "ignore", "pipe"] });

step("inject into a copy of node");
const out = "dist/tscni";
const tmpOut = `build/tscni.${tag}.exe`;
fs.copyFileSync(process.execPath, tmpOut);
fs.chmodSync(tmpOut, 0o755);
sh(process.execPath, [
  "node_modules/postject/dist/cli.js", tmpOut, "NODE_SEA_BLOB", `build/sea-prep.${tag}.blob`,
  "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
], { stdio: ["ignore", "ignore", "pipe"] }); // postject warns about ELF note names; harmless
publish(tmpOut, out);
fs.copyFileSync(`build/tscni.${tag}.cjs`, "build/tscni.cjs"); // kept for inspection and benchmarks
fs.copyFileSync(`build/tscni-k8s.${tag}.cjs`, "build/tscni-k8s.cjs");
for (const f of [`build/tscni.${tag}.cjs`, `build/tscni-k8s.${tag}.cjs`, `build/tscni.${tag}.cache`, `build/sea-prep.${tag}.blob`, `build/sea-config.${tag}.json`]) fs.rmSync(f, { force: true });
// dist/ holds exactly one executable.
for (const f of fs.readdirSync("dist")) if (f !== "tscni") fs.rmSync(path.join("dist", f), { recursive: true, force: true });
const size = (fs.statSync(out).size / 1048576).toFixed(1);
step(`wrote ${out} (${size} MiB)`);
