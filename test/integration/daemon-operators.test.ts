// The daemon seen by its operators while it is busy (issue #17): status answers at once and lists
// the requests in flight; stop stops accepting at once and waits a bounded time for what is in
// flight, --force ends it; a request that runs far past its deadline is answered for and its
// worker given up, the daemon staying up; a daemon nobody can call any more (its namespace used by
// nothing else) exits. Resident mode only: these are properties of the daemon itself.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { control, controlPath } from "../../cli/daemon/control";
import { daemonSocket, daemonStatus, waitForDaemon } from "../helpers/mode";
import { type Netns, NsScope, createNetns, deleteNetns, isRoot } from "../helpers/netns";
import { DIST_BIN, type ExecOptions, execPlugin, ourBinDir, startPlugin, usingBuiltBinary } from "../helpers/plugin";
import { lockHeld, until } from "../helpers/wait";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());
const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";

/** A configured daemon for `node` (as systemd would run one), with extra flags and environment. */
async function daemon(node: Netns, flags: string[] = [], env: Record<string, string> = {}): Promise<{ child: ChildProcess; exited: Promise<number> }> {
  const child = spawn("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", ...flags], { stdio: "ignore", env: { PATH, ...env } });
  scope.onCleanup(() => child.kill("SIGKILL"));
  const exited = new Promise<number>((r) => child.on("exit", (c) => r(c ?? -1)));
  await waitForDaemon(node.path);
  return { child, exited };
}

function heldStore(dataDir: string, network: string): Promise<() => void> {
  const lock = path.join(dataDir, network, "lock");
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  fs.writeFileSync(lock, "");
  const holder = spawn("flock", [lock, "sleep", "60"], { stdio: "ignore", detached: true });
  const release = () => {
    try {
      process.kill(-holder.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  scope.onCleanup(release);
  return until(() => lockHeld(lock), "the store lock to be held").then(() => release);
}

const hostLocal = (node: Netns, command: string, dataDir: string, id: string, env: Record<string, string> = {}): ExecOptions => ({
  command, containerID: id, netns: "/var/run/netns/none", node, binDir: ourBinDir(), extraEnv: env,
  config: { cniVersion: "1.0.0", name: "opnet", type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.88.0.0/24" }]] } },
});

const reservations = (dataDir: string) => (fs.existsSync(path.join(dataDir, "opnet")) ? fs.readdirSync(path.join(dataDir, "opnet")).filter((f) => /^10\./.test(f)) : []);

describe.skipIf(!canRun)("the daemon's operators' view while it is busy", () => {
  it("status answers within 100 ms with three requests in flight, and lists them", async () => {
    const node = scope.netns("op");
    await daemon(node);
    const dataDir = scope.tmpdir("tscni-op-");
    const release = await heldStore(dataDir, "opnet");
    const held = ["w1", "w2", "w3"].map((id) => startPlugin("host-local", hostLocal(node, "ADD", dataDir, id)));
    await until(() => daemonStatus(node.path)?.info.inFlight.length === 3, "three requests in flight");
    const times: number[] = [];
    let last: Awaited<ReturnType<typeof control>>;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      last = await control(daemonSocket(node.path)!, { op: "status" });
      times.push(performance.now() - t0);
    }
    expect(Math.max(...times), times.map((t) => t.toFixed(1)).join(", ")).toBeLessThan(100);
    const st = (last![0] as { status: import("../../cli/daemon/control").StatusInfo }).status;
    expect(st.inFlight.map((r) => `${r.plugin} ${r.verb} ${r.containerID} ${r.network}`).sort()).toEqual(["host-local ADD w1 opnet", "host-local ADD w2 opnet", "host-local ADD w3 opnet"]);
    expect(st.inFlight.every((r) => r.ageMs >= 0 && r.leftMs > 100_000)).toBe(true);
    expect(st.workers.busy).toBeGreaterThanOrEqual(3);
    release();
    for (const h of held) expect((await h.done).code).toBe(0);
    expect(reservations(dataDir)).toHaveLength(3);
  });

  it("stop: stops accepting at once (new calls run as processes), lets what is in flight finish, then exits", async () => {
    const node = scope.netns("op");
    const d = await daemon(node);
    const dataDir = scope.tmpdir("tscni-op-");
    const release = await heldStore(dataDir, "opnet");
    const held = startPlugin("host-local", hostLocal(node, "ADD", dataDir, "s1"));
    await until(() => daemonStatus(node.path)?.info.inFlight.length === 1, "the request in flight");
    const socket = daemonSocket(node.path)!;
    const stop = spawn("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "stop", "--socket", socket], { env: { PATH } });
    let out = "";
    stop.stdout!.on("data", (x) => (out += x));
    const stopped = new Promise<number>((r) => stop.on("exit", (c) => r(c ?? -1)));
    await until(() => !fs.existsSync(socket), "the daemon's socket to go", 2_000);
    // A new call meanwhile is served as a process, and starts no second daemon.
    const v = execPlugin("host-local", { command: "VERSION", config: "", node });
    expect(v.code).toBe(0);
    expect(fs.existsSync(controlPath(socket))).toBe(true); // still answering: it is stopping, not gone
    release();
    expect((await held.done).code).toBe(0);
    expect(await stopped).toBe(0);
    expect(out).toMatch(/^stopped tscni daemon pid \d+ \(1 requests were in flight; 0 ended unfinished\)\n$/);
    expect(await d.exited).toBe(0);
    expect(reservations(dataDir)).toEqual(["10.88.0.2"]);
  });

  it("stop --force ends the request in flight at once: its caller gets code 11, DEL then cleans up", async () => {
    const node = scope.netns("op");
    const d = await daemon(node);
    const dataDir = scope.tmpdir("tscni-op-");
    const release = await heldStore(dataDir, "opnet");
    const held = startPlugin("host-local", hostLocal(node, "ADD", dataDir, "f1"));
    await until(() => daemonStatus(node.path)?.info.inFlight.length === 1, "the request in flight");
    const t0 = Date.now();
    const stop = spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "stop", "--force"], { env: { PATH }, encoding: "utf8" });
    expect(stop.stdout).toMatch(/^stopped tscni daemon pid \d+ \(1 requests were in flight; 1 ended unfinished\)\n$/);
    const r = await held.done;
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(11);
    expect(r.json.msg).toMatch(/stopped \(--force\)/);
    expect(await d.exited).toBe(0);
    release();
    expect(execPlugin("host-local", hostLocal(node, "DEL", dataDir, "f1")).code).toBe(0);
    expect(reservations(dataDir)).toEqual([]);
  });

  it("a request stuck past its deadline is answered for (code 11) and its worker given up; the daemon serves on", async () => {
    const node = scope.netns("op");
    await daemon(node, ["--deadline-grace-ms", "500"], { TSCNI_DAEMON_FAULT: "spin" });
    const dataDir = scope.tmpdir("tscni-op-");
    const t0 = Date.now();
    const stuck = execPlugin("host-local", hostLocal(node, "ADD", dataDir, "spin", { TSCNI_REQUEST_TIMEOUT_MS: "1000" }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(stuck.code).toBe(1);
    expect(stuck.json.code).toBe(11);
    expect(stuck.json.msg).toBe("the request did not finish in time");
    const ok = execPlugin("host-local", hostLocal(node, "ADD", dataDir, "after"));
    expect(ok.code).toBe(0);
    const st = daemonStatus(node.path)!.info;
    expect(st.counts.abandoned).toBe(1);
    expect(st.inFlight).toEqual([]);
    expect(execPlugin("host-local", hostLocal(node, "DEL", dataDir, "after")).code).toBe(0);
  });

  it("a worker that a request left in another namespace is replaced; the next request runs in the daemon's own", async () => {
    const node = scope.netns("op");
    await daemon(node, [], { TSCNI_DAEMON_FAULT: "leave-netns" });
    const ctr = scope.netns("opc");
    const dataDir = scope.tmpdir("tscni-op-");
    const bridge = (command: string, id: string) =>
      execPlugin("bridge", { ...hostLocal(node, command, dataDir, id), netns: ctr.path, ifname: `e${id}`, config: { cniVersion: "1.0.0", name: "opnet", type: "bridge", bridge: "opbr0", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.88.0.0/24" }]] } } });
    expect(bridge("ADD", "leave").code).toBe(0);
    await until(() => {
      const w = daemonStatus(node.path)?.info.workers;
      return !!w && w.idle >= 2 && w.busy === 0 && w.starting === 0;
    }, "the worker to be replaced");
    for (let i = 0; i < 4; i++) expect(bridge("ADD", `next${i}`).code).toBe(0); // whichever worker takes them
    // Every veth's host end is in the node, none in the container: no request ran in the wrong place.
    const hostVeths = (JSON.parse(node.ip("-j", "link", "show", "type", "veth")) as unknown[]).length;
    expect(hostVeths).toBe(5);
    expect(JSON.parse(ctr.ip("-j", "link", "show", "type", "bridge"))).toEqual([]);
  });

  it("exits when nothing but itself uses its network namespace any more, not before", async () => {
    const node = createNetns("opx"); // deleted by the test itself, not by the scope
    scope.onCleanup(() => deleteNetns(node));
    const d = await daemon(node, ["--netns-check", "1"]);
    const sleeper = spawn("nsenter", [`--net=${node.path}`, "sleep", "60"], { stdio: "ignore" });
    scope.onCleanup(() => sleeper.kill("SIGKILL"));
    // In the namespace once nsenter has joined it and exec'd sleep (before that, deleting it would race).
    const nodeIno = fs.statSync(node.path).ino;
    await until(() => {
      try {
        return fs.readFileSync(`/proc/${sleeper.pid}/comm`, "utf8") === "sleep\n" && fs.statSync(`/proc/${sleeper.pid}/ns/net`).ino === nodeIno;
      } catch {
        return false;
      }
    }, "the sleep to run in the namespace");
    spawnSync("ip", ["netns", "delete", node.name]); // unmounted; the sleep still uses it
    const gone = await Promise.race([d.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 2_500))]);
    expect(gone).toBe(false);
    sleeper.kill("SIGKILL");
    const t0 = Date.now();
    expect(await d.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
