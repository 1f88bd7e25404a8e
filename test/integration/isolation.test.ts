// No call waits on an unrelated call (issue #17). One call is held up — by host-local's store lock,
// the legacy iptables lock, ebpf-bandwidth's own lock, a tool that never exits, a client that
// connects and sends nothing, or its caller killed while it waits — and meanwhile VERSION, an ADD
// on another network and a DEL of another container must take their usual time; afterwards the
// held call finishes (or fails cleanly) and DEL leaves nothing. Runs in both modes (scripts/test.sh):
// through the resident daemon, and as one process per call (the fallback), as the Go plugins run.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addNetworkList, delNetworkList } from "../../demo/chain";
import { MODE, daemonSocket, daemonStatus, waitForDaemon } from "../helpers/mode";
import { type Netns, NsScope, isRoot, uniqueName } from "../helpers/netns";
import { type ExecOptions, execPlugin, ourBinDir, startPlugin, usingBuiltBinary } from "../helpers/plugin";
import { lockHeld, lockWaiters, until } from "../helpers/wait";
import { expectNothingLeft as expectNoShaping, runBandwidth, topology } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
const EBPF_LOCK = "/run/tscni/ebpf-bandwidth.lock";

interface World {
  node: Netns;
  bin: string;
  dataDir: string;
}

/** A node namespace with its daemon up (resident mode), and a host-local data directory. */
async function world(node = scope.netns("iso")): Promise<World> {
  const w = { node, bin: ourBinDir(), dataDir: scope.tmpdir("tscni-iso-") };
  if (MODE === "resident") {
    execPlugin("bridge", { command: "VERSION", config: "", node });
    await waitForDaemon(node.path);
  }
  return w;
}

const bridgeConf = (w: World, network: string, octet: number, extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.0.0", name: network, type: "bridge", bridge: `ib${octet}`, isGateway: true, ...extra,
  ipam: { type: "host-local", dataDir: w.dataDir, ranges: [[{ subnet: `10.${octet}.0.0/24` }]] },
});

const bridgeCall = (w: World, command: string, config: object, containerID: string, ctr: Netns, extraEnv: Record<string, string> = {}): ExecOptions => ({
  command, config, containerID, netns: ctr.path, node: w.node, binDir: w.bin, path: w.bin, extraEnv,
});

interface Sample {
  version: number[];
  add: number[];
  del: number[];
}

/** The calls that must not wait: VERSION, ADD on another network, DEL of another container (3 each). */
function sample(w: World): Sample {
  const s: Sample = { version: [], add: [], del: [] };
  const timed = (into: number[], o: ExecOptions) => {
    const t0 = Date.now();
    const r = execPlugin("bridge", o);
    into.push(Date.now() - t0);
    expect(r.stdout + r.stderr).not.toMatch(/"code"/);
    expect(r.code).toBe(0);
  };
  for (let i = 0; i < 3; i++) {
    timed(s.version, { command: "VERSION", config: "", node: w.node, binDir: w.bin });
    const ctr = scope.netns("ic");
    const id = uniqueName("other");
    timed(s.add, bridgeCall(w, "ADD", bridgeConf(w, "other", 61), id, ctr));
    timed(s.del, bridgeCall(w, "DEL", bridgeConf(w, "other", 61), id, ctr));
  }
  return s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Under the fault each kind of call takes about its idle time (generous bounds: a stall is seconds). */
function expectUnaffected(idle: Sample, under: Sample): void {
  for (const k of ["version", "add", "del"] as const) {
    expect(Math.max(...under[k]), `${k}: ${under[k].join(", ")} ms under the fault, idle ${idle[k].join(", ")}`).toBeLessThan(1000);
    expect(median(under[k]), `${k}: ${under[k].join(", ")} ms under the fault, idle ${idle[k].join(", ")}`).toBeLessThanOrEqual(3 * median(idle[k]) + 50);
  }
}

/** Another process holds `file` locked until the returned function is called (or cleanup). */
async function holdLock(file: string): Promise<() => void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const holder = spawn("flock", [file, "sleep", "60"], { stdio: "ignore", detached: true });
  const release = () => {
    try {
      process.kill(-holder.pid!, "SIGKILL"); // flock and its sleep, which holds the lock too
    } catch {
      /* gone */
    }
  };
  scope.onCleanup(release);
  await until(() => lockHeld(file), `the lock on ${file} to be held`);
  return release;
}

/** Reservations host-local holds, as "<ip> <containerID>". */
function reservations(w: World): string[] {
  const out: string[] = [];
  for (const net of fs.readdirSync(w.dataDir)) {
    const dir = path.join(w.dataDir, net);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) out.push(`${f} ${fs.readFileSync(path.join(dir, f), "utf8").split(/\r?\n/)[0]}`);
  }
  return out.sort();
}

/** No veth and no reservation left in the node. */
function expectNothingLeft(w: World): void {
  expect(reservations(w)).toEqual([]);
  expect(JSON.parse(w.node.ip("-j", "link", "show", "type", "veth"))).toEqual([]);
}

/** A directory of tools: each name a symlink to `target(name)`, or a script given as text. */
function toolDir(tools: Record<string, string>): string {
  const dir = scope.tmpdir("tscni-tools-");
  for (const [name, what] of Object.entries(tools)) {
    if (what.startsWith("#!")) fs.writeFileSync(path.join(dir, name), what, { mode: 0o755 });
    else fs.symlinkSync(what, path.join(dir, name));
  }
  return dir;
}

/** Debian's legacy iptables under the usual names: the variant that takes the xtables lock. */
const legacyIptables = () =>
  toolDir(Object.fromEntries(["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"].map((n) => [n, `/usr/sbin/${n.replace(/^(ip6?tables)/, "$1-legacy")}`])));

describe.skipIf(!canRun)(`no call waits on an unrelated call (${MODE})`, () => {
  it("host-local's store lock held: only the ADD on that network waits", async () => {
    const w = await world();
    const idle = sample(w);
    const lock = path.join(w.dataDir, "held", "lock");
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, "");
    const release = await holdLock(lock);
    const ctr = scope.netns("ic");
    const held = startPlugin("bridge", bridgeCall(w, "ADD", bridgeConf(w, "held", 62), "held1", ctr));
    await until(() => lockWaiters(lock) > 0, "the ADD to wait for the store lock");
    const under = sample(w);
    release();
    const r = await held.done;
    expect(r.json?.ips?.[0]?.address ?? r.stdout).toBe("10.62.0.2/24");
    expect(r.code).toBe(0);
    expectUnaffected(idle, under);
    expect(execPlugin("bridge", bridgeCall(w, "DEL", bridgeConf(w, "held", 62), "held1", ctr)).code).toBe(0);
    expectNothingLeft(w);
  });

  it("the legacy iptables lock held: only the ipMasq ADD waits; its rules go with DEL", async () => {
    const w = await world();
    const idle = sample(w);
    const xtablesLock = path.join(scope.tmpdir("tscni-xt-"), "xtables.lock"); // never the machine's own
    const env = { PATH: `${legacyIptables()}:${PATH}`, XTABLES_LOCKFILE: xtablesLock };
    fs.writeFileSync(xtablesLock, "");
    const release = await holdLock(xtablesLock);
    const ctr = scope.netns("ic");
    const conf = bridgeConf(w, "masq", 63, { ipMasq: true });
    const held = startPlugin("bridge", bridgeCall(w, "ADD", conf, "masq1", ctr, env));
    await until(() => lockWaiters(xtablesLock) > 0, "iptables-restore to wait for the xtables lock");
    const under = sample(w);
    release();
    const r = await held.done;
    expect(r.json?.ips?.[0]?.address ?? r.stdout).toBe("10.63.0.2/24");
    expect(r.code).toBe(0);
    expectUnaffected(idle, under);
    const natRules = () => w.node.run("iptables-legacy-save", ["-t", "nat"]).stdout;
    expect(natRules()).toMatch(/-A POSTROUTING -s 10\.63\.0\.2\/32 .*-j CNI-/);
    expect(execPlugin("bridge", bridgeCall(w, "DEL", conf, "masq1", ctr, env)).code).toBe(0);
    expect(natRules()).not.toMatch(/CNI-/);
    expectNothingLeft(w);
  });

  it("a tool that never exits: the call fails with code 11 at its deadline and undoes itself", async () => {
    const w = await world();
    const idle = sample(w);
    const marker = `1000.${process.pid}${Date.now() % 100000}`;
    const hang = `#!/bin/sh\nexec sleep ${marker}\n`;
    const env = { PATH: `${toolDir({ "iptables-restore": hang, "ip6tables-restore": hang })}:${PATH}`, TSCNI_REQUEST_TIMEOUT_MS: "3000" };
    const sleeping = () => spawnSync("pgrep", ["-f", `sleep ${marker}`]).status === 0;
    const ctr = scope.netns("ic");
    const conf = bridgeConf(w, "hang", 64, { ipMasq: true });
    const held = startPlugin("bridge", bridgeCall(w, "ADD", conf, "hang1", ctr, env));
    await until(sleeping, "iptables-restore to hang");
    const under = sample(w);
    const r = await held.done;
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(11);
    expect(r.json.msg).toMatch(/timed out running iptables-restore/);
    expect(r.ms).toBeLessThan(3000 + 5000);
    expect(sleeping()).toBe(false); // the tool was killed, not left behind
    expectUnaffected(idle, under);
    expectNothingLeft(w); // the ADD undid its veth and its address
    expect(execPlugin("bridge", bridgeCall(w, "DEL", conf, "hang1", ctr)).code).toBe(0);
  });

  it("ebpf-bandwidth's own lock held: only the call that needs it waits", async () => {
    const t = topology(scope, { bridge: "ours", n: 1, caps: { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 } });
    const w = await world(t.node);
    const idle = sample(w);
    const release = await holdLock(EBPF_LOCK);
    const held = startPlugin("ebpf-bandwidth", {
      command: "DEL", config: { cniVersion: "1.1.0", name: t.list.name, type: "ebpf-bandwidth", pinRoot: t.pinRoot },
      containerID: t.ctrs[0]!.id, netns: t.ctrs[0]!.ns.path, node: t.node, binDir: t.binDir,
    });
    await until(() => lockWaiters(EBPF_LOCK) > 0, "ebpf-bandwidth DEL to wait for its lock");
    const under = sample(w);
    release();
    const r = await held.done;
    expect(r.stdout).toBe("");
    expect(r.code).toBe(0);
    expectUnaffected(idle, under);
    const c = t.ctrs[0]!;
    delNetworkList({ binDir: t.binDir, nodeNetns: t.node.name }, t.list, { containerID: c.id, netns: c.ns.path, ifname: "eth0" }, c.result);
    expectNoShaping(t);
    expect(runBandwidth(t, "STATUS").code).toBe(0);
  });

  it("the caller killed while its call waits: the call ends with it, others go on, DEL cleans up", async () => {
    const w = await world();
    const idle = sample(w);
    const lock = path.join(w.dataDir, "killed", "lock");
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, "");
    const release = await holdLock(lock);
    const ctr = scope.netns("ic");
    const conf = bridgeConf(w, "killed", 65);
    const held = startPlugin("bridge", bridgeCall(w, "ADD", conf, "killed1", ctr));
    await until(() => lockWaiters(lock) > 0, "the ADD to wait for the store lock");
    held.child.kill("SIGKILL"); // a runtime's timeout
    await held.done;
    // The call gives up its wait (the daemon notices its caller is gone; a process simply dies).
    await until(() => lockWaiters(lock) === 0, "the abandoned call to stop waiting", 2_000);
    const under = sample(w);
    release();
    if (MODE === "resident") await until(() => daemonStatus(w.node.path)?.info.inFlight.length === 0, "nothing in flight");
    expect(reservations(w)).toEqual([]); // the killed ADD never went on to reserve an address
    expectUnaffected(idle, under);
    expect(execPlugin("bridge", bridgeCall(w, "DEL", conf, "killed1", ctr)).code).toBe(0);
    expectNothingLeft(w);
  });

  it.skipIf(MODE !== "resident")("a client that connects and sends nothing holds up nobody", async () => {
    const w = await world();
    const idle = sample(w);
    const socket = daemonSocket(w.node.path)!;
    const silent = spawn("nsenter", [`--net=${w.node.path}`, "/usr/bin/python3", "-c", `import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(socket)})\nprint("connected", flush=True)\ntime.sleep(4)`], { stdio: ["ignore", "pipe", "ignore"] });
    scope.onCleanup(() => silent.kill("SIGKILL"));
    await new Promise<void>((r) => silent.stdout!.once("data", () => r()));
    const under = sample(w);
    expectUnaffected(idle, under);
    silent.kill("SIGKILL");
  });

  it("tools come from the call's PATH and get the call's environment (minus NODE_*), in both modes alike", async () => {
    const w = await world();
    const logs = scope.tmpdir("tscni-toollog-");
    const wrapper = (name: string) => `#!/bin/sh\necho ${name} >> ${logs}/which\nenv > ${logs}/env-${name}\nexec /usr/sbin/iptables-restore "$@"\n`;
    const dirs = { a: toolDir({ "iptables-restore": wrapper("a") }), b: toolDir({ "iptables-restore": wrapper("b") }) };
    const conf = bridgeConf(w, "envs", 66, { ipMasq: true });
    const calls = (["a", "b"] as const).map((k) => ({ k, ctr: scope.netns("ic"), env: { PATH: `${dirs[k]}:${PATH}`, CALL_MARK: `mark-${k}`, NODE_OPTIONS: "--no-such-option" } }));
    for (const c of calls) expect(execPlugin("bridge", bridgeCall(w, "ADD", conf, `env-${c.k}`, c.ctr, c.env)).code).toBe(0);
    expect(fs.readFileSync(path.join(logs, "which"), "utf8")).toBe("a\nb\n");
    for (const c of calls) {
      const seen = Object.fromEntries(fs.readFileSync(path.join(logs, `env-${c.k}`), "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
      for (const shellOwn of ["PWD", "SHLVL", "_"]) delete seen[shellOwn];
      expect(seen).toEqual({
        PATH: c.env.PATH, CALL_MARK: c.env.CALL_MARK, CNI_COMMAND: "ADD", CNI_CONTAINERID: `env-${c.k}`, CNI_NETNS: c.ctr.path, CNI_IFNAME: "eth0", CNI_PATH: w.bin,
        ...(MODE === "fallback" ? { TSCNI_NO_DAEMON: "1" } : {}),
      });
    }
    for (const c of calls) expect(execPlugin("bridge", bridgeCall(w, "DEL", conf, `env-${c.k}`, c.ctr, c.env)).code).toBe(0);
    expectNothingLeft(w);
  });
});

// Also in both modes: a chain of ours through the daemon with an IPAM of another build (delegation
// execs a shim, which calls the daemon again) still works — the delegated call gets a worker of its own.
describe.skipIf(!canRun)(`delegation to another process (${MODE})`, () => {
  it("bridge with an IPAM exec'd as a process: ADD and DEL", async () => {
    const w = await world();
    const bin = scope.tmpdir("tscni-otheripam-");
    // host-local as a separate executable of its own (a copy of the shim, so not "this build" by inode).
    fs.symlinkSync(path.join(w.bin, "bridge"), path.join(bin, "bridge"));
    fs.copyFileSync("/usr/lib/cni/host-local", path.join(bin, "host-local"));
    fs.chmodSync(path.join(bin, "host-local"), 0o755);
    const list = { cniVersion: "1.0.0", name: "deleg", plugins: [bridgeConf(w, "deleg", 67)] };
    const ctr = scope.netns("ic");
    const result = addNetworkList({ binDir: bin, nodeNetns: w.node.name }, list, { containerID: "d1", netns: ctr.path, ifname: "eth0" });
    expect(result.ips[0].address).toBe("10.67.0.2/24");
    delNetworkList({ binDir: bin, nodeNetns: w.node.name }, list, { containerID: "d1", netns: ctr.path, ifname: "eth0" }, result);
    expectNothingLeft(w);
  });

  it("an IPAM process that never answers is killed at the call's deadline: code 11, nothing left", async () => {
    const w = await world();
    const marker = `1000.${process.pid}${Date.now() % 100000}`;
    const bin = toolDir({ bridge: path.join(w.bin, "bridge"), "host-local": `#!/bin/sh
exec sleep ${marker}
` });
    const ctr = scope.netns("ic");
    const t0 = Date.now();
    const r = execPlugin("bridge", { ...bridgeCall(w, "ADD", bridgeConf(w, "slowipam", 68), "s1", ctr, { TSCNI_REQUEST_TIMEOUT_MS: "1500" }), binDir: bin, path: bin });
    expect(Date.now() - t0).toBeLessThan(1500 + 3000);
    expect([r.code, r.json?.code, r.json?.msg]).toEqual([1, 11, 'IPAM plugin "host-local" ADD: timed out running plugin "host-local"']);
    expect(spawnSync("pgrep", ["-f", `sleep ${marker}`]).status).not.toBe(0); // killed, not left running
    expectNothingLeft(w);
  });
});
