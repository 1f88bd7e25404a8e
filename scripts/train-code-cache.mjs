#!/usr/bin/env node
// Build step: run real calls through the bundle in this process, then save V8's code cache of the
// compiled bundle (pkg-config/boot.cjs loads it in the executable). Usage:
//   node scripts/train-code-cache.mjs <bundle.cjs> <out.cache>
// As root, scripts/build.mjs runs this under `unshare -m -n` (a private network and mount
// namespace): the ADD/CHECK/DEL calls then build a bridge, veths, HTB queues and eBPF links there,
// which vanish with the process. Otherwise only VERSION and error paths are trained.
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import * as vm from "node:vm";

const [bundle, out] = process.argv.slice(2);
const wrap = (s) => `(function (require, module, __filename, __dirname) {${s}\n})`; // as in pkg-config/boot.cjs
const script = new vm.Script(wrap(fs.readFileSync(bundle, "utf8")), { filename: "tscni.cjs" });
let api;
globalThis.__tscniTrainer = (a) => (api = a);
script.runInThisContext()(createRequire(path.resolve(bundle)), { exports: {} }, path.resolve(bundle), path.dirname(path.resolve(bundle)));
if (!api) throw new Error("the bundle did not offer its training API");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-train-"));
let calls = 0;
async function call(name, env, conf) {
  const plugin = await api.loadPlugin(name);
  let stdout = "";
  await api.dispatch(plugin, { env: { PATH: process.env.PATH, CNI_PATH: tmp, ...env }, stdin: Buffer.from(typeof conf === "string" ? conf : JSON.stringify(conf)), stdout: (s) => (stdout += s), stderr: () => {} });
  calls++;
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

for (const name of ["bridge", "host-local", "ebpf-bandwidth"]) {
  await call(name, { CNI_COMMAND: "VERSION" }, "");
  await call(name, { CNI_COMMAND: "ADD", CNI_CONTAINERID: "t", CNI_NETNS: "/nonexistent", CNI_IFNAME: "eth0" }, "{not json");
}
// Real calls, where this process has a network namespace of its own to build in.
// build.mjs sets TSCNI_TRAIN_REAL=1 only when it started us in private namespaces.
if (process.getuid?.() === 0 && process.env.TSCNI_TRAIN_REAL === "1") {
  // A container: a process sleeping in a further network namespace.
  const ctr = spawn("unshare", ["-n", "sleep", "60"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 200));
  const netns = `/proc/${ctr.pid}/ns/net`;
  const pins = path.join(tmp, "bpf");
  fs.mkdirSync(pins);
  spawnSync("mount", ["-t", "bpf", "bpf", pins]);
  // On CNI_PATH, "this build" (the same file as the running executable): delegation stays in-process.
  for (const f of ["bridge", "host-local"]) fs.symlinkSync(process.execPath, path.join(tmp, f));
  const env = (cmd) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: "train", CNI_NETNS: netns, CNI_IFNAME: "eth0" });
  const net = { cniVersion: "1.0.0", name: "train", type: "bridge", bridge: "trainbr0", isGateway: true, ipMasq: false, ipam: { type: "host-local", dataDir: path.join(tmp, "ipam"), ranges: [[{ subnet: "10.255.0.0/24" }]] } };
  // Best effort: a kernel without some feature only trains less (the build never fails here).
  try {
    for (let i = 0; i < 2; i++) {
      const result = await call("bridge", env("ADD"), net);
      if (!result?.ips) throw new Error(`bridge ADD failed: ${JSON.stringify(result)}`);
      await call("bridge", env("CHECK"), { ...net, prevResult: result });
      const bw = { cniVersion: "1.0.0", name: "train", type: "ebpf-bandwidth", pinRoot: pins, ingressRate: 1e7, ingressBurst: 1 << 20, egressRate: 1e7, egressBurst: 1 << 20, prevResult: result };
      await call("ebpf-bandwidth", env("ADD"), bw);
      await call("ebpf-bandwidth", env("CHECK"), bw);
      await call("ebpf-bandwidth", env("DEL"), bw);
      await call("bridge", env("DEL"), { ...net, prevResult: result });
    }
  } catch (e) {
    process.stdout.write(`train-code-cache: real calls stopped early: ${e instanceof Error ? e.message : e}\n`);
  } finally {
    ctr.kill();
    spawnSync("umount", ["-l", pins]);
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
const data = script.createCachedData();
fs.writeFileSync(out, data);
process.stdout.write(`train-code-cache: ${calls} calls, ${(data.length / 1024).toFixed(0)} KiB of code cache\n`);
process.exit(0);
