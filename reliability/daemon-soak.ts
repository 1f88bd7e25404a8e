// Soak of the resident daemon (issue #12): N ADD/DEL pairs of bridge + host-local (+ ebpf-bandwidth
// every 10th pair) through the installed shims, one daemon serving them all; every tenth of the run the
// daemon's open descriptors and RSS are printed, so a leak shows as a trend. Ends with the node
// checked clean and the daemon stopped.
//   npx tsx reliability/daemon-soak.ts [pairs=10000]
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const PAIRS = Number(process.argv[2] ?? 10_000);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const DIST = path.join(root, "dist/tscni");
const tag = process.pid.toString(36);
const node = `dsoak${tag}`;
const ctr = `dsoakc${tag}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-dsoak-"));
const bin = path.join(tmp, "bin");
const pins = path.join(tmp, "bpf");
const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";

function cleanup() {
  const sock = `/run/tscni/tscni-${fs.existsSync(`/var/run/netns/${node}`) ? fs.statSync(`/var/run/netns/${node}`).ino : 0}.sock`;
  if (fs.existsSync(sock)) spawnSync(DIST, ["daemon", "stop", "--socket", sock]);
  for (const n of [ctr, node]) spawnSync("ip", ["netns", "delete", n]);
  spawnSync("umount", ["-l", pins]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

execFileSync(DIST, ["install", "--dir", bin], { env: { PATH } });
fs.mkdirSync(pins);
execFileSync("mount", ["-t", "bpf", "bpf", pins]);
for (const n of [node, ctr]) execFileSync("ip", ["netns", "add", n]);
const bridge = { cniVersion: "1.0.0", name: "dsoak", type: "bridge", bridge: "dsbr0", isGateway: true, ipam: { type: "host-local", dataDir: path.join(tmp, "ipam"), ranges: [[{ subnet: "10.70.0.0/24" }]] } };
const bw = (prev: unknown) => ({ cniVersion: "1.0.0", name: "dsoak", type: "ebpf-bandwidth", pinRoot: pins, ingressRate: 1e7, ingressBurst: 1e6, egressRate: 1e7, egressBurst: 1e6, prevResult: prev });

function call(plugin: string, command: string, conf: unknown): string {
  const env = { PATH, CNI_COMMAND: command, CNI_CONTAINERID: "soak", CNI_NETNS: `/var/run/netns/${ctr}`, CNI_IFNAME: "eth0", CNI_PATH: bin };
  const r = spawnSync("nsenter", [`--net=/var/run/netns/${node}`, "--", path.join(bin, plugin)], { input: JSON.stringify(conf), env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${plugin} ${command} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function daemonPid(): number {
  const sock = `/run/tscni/tscni-${fs.statSync(`/var/run/netns/${node}`).ino}.sock`;
  const r = spawnSync(DIST, ["daemon", "status", "--socket", sock], { encoding: "utf8" });
  const m = /pid (\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no daemon: ${r.stdout}`);
  return Number(m[1]);
}

const sample = (pid: number) => {
  const sock = `/run/tscni/tscni-${fs.statSync(`/var/run/netns/${node}`).ino}.sock`;
  const st = JSON.parse(spawnSync(DIST, ["daemon", "status", "--json", "--socket", sock], { encoding: "utf8" }).stdout);
  const w = st.workers;
  return {
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    rssMiB: Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024,
    heapMiB: st.heapUsedBytes / 1048576,
    workersHeapMiB: st.workersHeapUsedBytes / 1048576,
    workers: w.busy + w.idle + w.starting,
  };
};

call("bridge", "VERSION", {}); // spawns the daemon
for (let i = 0; i < 100; i++) {
  try {
    daemonPid();
    break;
  } catch {
    spawnSync("sleep", ["0.05"]);
  }
}
const pid = daemonPid();
console.log(`daemon pid ${pid}; ${PAIRS} ADD/DEL pairs of bridge + host-local, ebpf-bandwidth on every 10th`);
console.log("| pairs | seconds | open fds | RSS MiB | main V8 heap MiB | workers | workers' V8 heaps MiB |");
console.log("|---:|---:|---:|---:|---:|---:|---:|");
const started = Date.now();
const row = (n: number) => {
  const s = sample(pid);
  console.log(`| ${n} | ${((Date.now() - started) / 1000).toFixed(0)} | ${s.fds} | ${s.rssMiB.toFixed(1)} | ${s.heapMiB.toFixed(1)} | ${s.workers} | ${s.workersHeapMiB.toFixed(1)} |`);
};
row(0);
for (let i = 1; i <= PAIRS; i++) {
  const result = JSON.parse(call("bridge", "ADD", bridge));
  const shaped = i % 10 === 0;
  if (shaped) call("ebpf-bandwidth", "ADD", bw(result));
  if (shaped) call("ebpf-bandwidth", "DEL", bw(result));
  call("bridge", "DEL", { ...bridge, prevResult: result });
  if (i % Math.max(1, Math.floor(PAIRS / 10)) === 0) row(i);
}
if (daemonPid() !== pid) throw new Error("the daemon was replaced during the soak");
const left = fs.readdirSync(path.join(tmp, "ipam", "dsoak")).filter((f) => /^10\./.test(f));
const links = execFileSync("ip", ["-n", node, "-o", "link"], { encoding: "utf8" }).split("\n").filter((l) => /veth|ifb/.test(l));
console.log(`left behind: ${left.length} reservations, ${links.length} veth/ifb links, ${fs.readdirSync(pins).filter((f) => !f.endsWith(".debug")).length} pin entries`);
