// The resident daemon and its shim (cli/daemon, native/shim): what `tscni install` lays out, the
// fast path and the fallback, and every way the fallback must take over — or must not (a request
// the daemon acked is never replayed). Each test works in its own node namespace; daemons are
// stopped when their namespace is deleted.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addNetworkList, delNetworkList } from "../../demo/chain";
import { encodeRequest } from "../../cli/daemon/protocol";
import { daemonSocket } from "../helpers/mode";
import { type Netns, NsScope, isRoot, uniqueName } from "../helpers/netns";
import { DIST_BIN, type ExecResult, execPlugin, usingBuiltBinary } from "../helpers/plugin";
import { lockHeld, lockWaiters, until } from "../helpers/wait";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";

/** `tscni install` into a fresh directory. */
function installDir(): string {
  const dir = scope.tmpdir("tscni-daemon-bin-");
  const r = spawnSync(DIST_BIN, ["install", "--dir", dir], { encoding: "utf8", env: { PATH } });
  expect(r.status).toBe(0);
  return dir;
}

/** Exec a shim as a runtime does (nsenter --net into the node), environment given in full. */
const shim = (dir: string, name: string, node: Netns, env: Record<string, string>, stdin = ""): ExecResult =>
  execPlugin(name, { command: "", binDir: dir, node, rawEnv: { PATH, ...env }, config: stdin });

function status(node: Netns, socket = daemonSocket(node.path)!): { pid: number; served: number; digest: string } | undefined {
  if (!fs.existsSync(socket)) return undefined;
  const r = spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "status", "--socket", socket], { encoding: "utf8", env: { PATH } });
  const m = /pid (\d+) .* (\d+) requests, build ([0-9a-f]{32})/.exec(r.stdout);
  return m ? { pid: Number(m[1]), served: Number(m[2]), digest: m[3]! } : undefined;
}

/** Wait until a daemon answers in `node` (a shim spawns it detached, after its own call). */
async function waitForDaemon(node: Netns, socket?: string) {
  for (let i = 0; i < 100; i++) {
    const s = status(node, socket);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no daemon came up");
}

const VERSION = { CNI_COMMAND: "VERSION" };
const hostLocalConf = (dataDir: string, name = "dnet") =>
  JSON.stringify({ cniVersion: "1.0.0", name, type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.66.0.0/24" }]] } });
const hlEnv = (cmd: string, id: string) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: "/nonexistent" });

describe.skipIf(!canRun)("tscni daemon and shim", () => {
  it("install lays out the executable and one static shim hard-linked under each plugin name", () => {
    const dir = installDir();
    expect(fs.readdirSync(dir).sort()).toEqual(["bridge", "ebpf-bandwidth", "host-local", "loopback", "tscni"]);
    const ino = (n: string) => fs.statSync(path.join(dir, n)).ino;
    expect(new Set([ino("bridge"), ino("host-local"), ino("ebpf-bandwidth"), ino("loopback")]).size).toBe(1);
    expect(ino("tscni")).not.toBe(ino("bridge"));
    expect(fs.statSync(path.join(dir, "bridge")).size).toBeLessThan(2 << 20);
    // Static: no program interpreter (PT_INTERP) for the runtime's host to provide.
    expect(spawnSync("readelf", ["-l", path.join(dir, "bridge")], { encoding: "utf8" }).stdout).not.toMatch(/INTERP/);
  });

  it("spawns a daemon on the first call, serves later calls from it, and answers like the fallback", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    const first = shim(dir, "host-local", node, VERSION);
    expect(first.code).toBe(0);
    const before = await waitForDaemon(node);
    const served = shim(dir, "host-local", node, VERSION);
    expect(status(node)!.served).toBe(before.served + 1);
    const fallback = shim(dir, "host-local", node, { ...VERSION, TSCNI_NO_DAEMON: "1", TSCNI_SOCKET: "/nonexistent/s" });
    expect(served.stdout).toBe(fallback.stdout);
    expect(served.stdout).toBe(first.stdout);
    // The digest the daemon reports is the one the build baked into the shim.
    expect(fs.readFileSync(path.join(dir, "bridge")).includes(`tscni-shim-digest:${before.digest}`)).toBe(true);
  });

  it("runs ADD, CHECK and DEL of a real chain through the daemon, the container netns passed as a descriptor", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "bridge", node, VERSION);
    const d = await waitForDaemon(node);
    const ctr = scope.netns("dc");
    // The runtime's path for the container's namespace exists only in the caller's private mount
    // namespace: the daemon (in the host's) can use it only through the descriptor the shim sends.
    const priv = scope.tmpdir("tscni-privns-");
    const list = { cniVersion: "1.0.0", name: uniqueName("dnet"), plugins: [{ type: "bridge", bridge: "dbr0", isGateway: true, ipam: { type: "host-local", dataDir: scope.tmpdir("tscni-dipam-"), ranges: [[{ subnet: "10.67.0.0/24" }]] } }] };
    const conf = { ...list.plugins[0], cniVersion: list.cniVersion, name: list.name };
    const script = `mount --make-rprivate / && mount -t tmpfs t "$0" && touch "$0/ns" && mount --bind ${ctr.path} "$0/ns" && exec nsenter --net=${node.path} -- "$@"`;
    const privately = (command: string, stdin: unknown) =>
      spawnSync("unshare", ["-m", "sh", "-c", script, priv, path.join(dir, "bridge")], {
        input: JSON.stringify(stdin), encoding: "utf8",
        env: { PATH, CNI_COMMAND: command, CNI_CONTAINERID: "d1", CNI_NETNS: `${priv}/ns`, CNI_IFNAME: "eth0", CNI_PATH: dir },
      });
    const r = privately("ADD", conf);
    expect(r.stderr + r.stdout.slice(0, r.status ? 400 : 0)).toBe("");
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.ips[0].address).toBe("10.67.0.2/24");
    expect(result.interfaces.find((i: any) => i.name === "eth0").sandbox).toBe(`${priv}/ns`); // the runtime's own path
    expect(ctr.ip("-j", "addr", "show", "eth0")).toContain("10.67.0.2");
    expect(status(node)!.served).toBe(d.served + 1); // one request: the bridge ran host-local in-process
    // CHECK through the daemon, by the same descriptor: passes on what ADD made (no output) ...
    const check = privately("CHECK", { ...conf, prevResult: result });
    expect(check.stderr + check.stdout).toBe("");
    expect(check.status).toBe(0);
    expect(status(node)!.served).toBe(d.served + 2);
    // ... and fails once the container's address is gone (so it looked, in the right namespace).
    ctr.ip("addr", "del", "10.67.0.2/24", "dev", "eth0");
    const broken = privately("CHECK", { ...conf, prevResult: result });
    expect(broken.status).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ code: 104, msg: expect.stringContaining("10.67.0.2") });
    expect(status(node)!.served).toBe(d.served + 3);
    delNetworkList({ binDir: dir, nodeNetns: node.name }, list, { containerID: "d1", netns: ctr.path, ifname: "eth0" }, result);
    expect(ctr.run("ip", ["link", "show", "eth0"], { allowFail: true }).status).not.toBe(0);
    // A chain through the daemon again, by the ordinary path.
    const again = addNetworkList({ binDir: dir, nodeNetns: node.name }, list, { containerID: "d2", netns: ctr.path, ifname: "eth0" });
    expect(again.ips[0].address).toBe("10.67.0.3/24");
    delNetworkList({ binDir: dir, nodeNetns: node.name }, list, { containerID: "d2", netns: ctr.path, ifname: "eth0" }, again);
  });

  it("falls back without NODE_* variables: NODE_OPTIONS from the runtime cannot break or slow the plugin", () => {
    const dir = installDir();
    const node = scope.netns("dn");
    const hostile = { NODE_OPTIONS: "--require /nonexistent/preload.js", NODE_EXTRA_CA_CERTS: "/nonexistent/ca.pem" };
    const direct = spawnSync(path.join(dir, "tscni"), [], { env: { PATH, ...VERSION, ...hostile }, encoding: "utf8", input: "" });
    expect(direct.status).not.toBe(0); // what a runtime's NODE_OPTIONS does to a Node executable
    const r = shim(dir, "bridge", node, { ...VERSION, ...hostile, TSCNI_NO_DAEMON: "1" });
    expect(r.code).toBe(0);
    expect(r.json.supportedVersions).toContain("1.1.0");
  });

  it("does not replay an acked request: the daemon dying mid-ADD gives code 11 and nothing runs twice", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "host-local", node, VERSION);
    const d = await waitForDaemon(node);
    const dataDir = scope.tmpdir("tscni-dkill-");
    fs.mkdirSync(path.join(dataDir, "dnet"));
    fs.writeFileSync(path.join(dataDir, "dnet", "lock"), "");
    // Hold the store's lock: the daemon's ADD blocks in flock until we kill it.
    const holder = spawn("flock", [path.join(dataDir, "dnet", "lock"), "sleep", "30"], { stdio: "ignore", detached: true });
    const release = () => {
      try {
        process.kill(-holder.pid!, "SIGKILL"); // flock and its sleep, which holds the lock too
      } catch {
        /* gone */
      }
    };
    scope.onCleanup(release);
    const lock = path.join(dataDir, "dnet", "lock");
    await until(() => lockHeld(lock), "the store lock to be held");
    const call = spawn("nsenter", [`--net=${node.path}`, "--", path.join(dir, "host-local")], { env: { PATH, ...hlEnv("ADD", "k1") } });
    let out = "";
    call.stdout.on("data", (c) => (out += c));
    call.stdin.end(hostLocalConf(dataDir));
    const exited = new Promise<number>((r) => call.on("close", (c) => r(c ?? -1)));
    await until(() => lockWaiters(lock) > 0, "the daemon's ADD to wait for the store lock"); // acked, running
    process.kill(d.pid, "SIGKILL");
    expect(await exited).toBe(1);
    const err = JSON.parse(out);
    expect(err.code).toBe(11);
    expect(err.cniVersion).toBe("1.0.0");
    release();
    await until(() => !lockHeld(lock) && lockWaiters(lock) === 0, "the store lock to be free, nobody waiting for it");
    // Nothing was reserved by a replay; the DEL a runtime sends next succeeds.
    expect(fs.readdirSync(path.join(dataDir, "dnet")).filter((f) => /^10\./.test(f))).toEqual([]);
    expect(shim(dir, "host-local", node, hlEnv("DEL", "k1"), hostLocalConf(dataDir)).code).toBe(0);
  });

  it("hands a shim of another build to the fallback, and a spawned daemon then makes way", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "host-local", node, VERSION);
    const d = await waitForDaemon(node);
    // The same shim with another digest baked in: a different build.
    const other = scope.tmpdir("tscni-other-");
    const bytes = fs.readFileSync(path.join(dir, "host-local"));
    const patched = Buffer.from(bytes.toString("latin1").replaceAll(d.digest, "f".repeat(32)), "latin1");
    expect(patched.equals(bytes)).toBe(false);
    fs.writeFileSync(path.join(other, "host-local"), patched, { mode: 0o755 });
    fs.linkSync(path.join(dir, "tscni"), path.join(other, "tscni"));
    const dataDir = scope.tmpdir("tscni-dother-");
    const r = shim(other, "host-local", node, hlEnv("ADD", "o1"), hostLocalConf(dataDir));
    expect(r.code).toBe(0);
    expect(r.json.ips[0].address).toBe("10.66.0.2/24");
    for (let i = 0; i < 40 && status(node); i++) await new Promise((res) => setTimeout(res, 50));
    expect(status(node)).toBeUndefined();
  });

  it("accepts only root peers, drops a request that stalls past the deadline, and refuses one over the size limit", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    const sockDir = scope.tmpdir("tscni-dsock-");
    fs.chmodSync(sockDir, 0o711);
    const socket = path.join(sockDir, "d.sock");
    const daemon = spawn("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "--socket", socket, "--read-deadline-ms", "500", "--max-request-bytes", String(1 << 20)], { stdio: "ignore", env: { PATH } });
    scope.onCleanup(() => daemon.kill());
    const d = await waitForDaemon(node, socket);
    fs.chmodSync(socket, 0o777);
    const request = encodeRequest({ digest: d.digest, argv0: "host-local", env: VERSION, stdin: Buffer.alloc(0) }).toString("base64");
    // Prints the bytes answered before the daemon closed the connection (0: closed unanswered).
    const py = (stall: boolean) =>
      [
        "import socket,base64,time",
        "s=socket.socket(socket.AF_UNIX)",
        `s.connect(${JSON.stringify(socket)})`,
        `b=base64.b64decode(${JSON.stringify(request)})`,
        "n=0",
        "try:",
        stall ? "  s.sendall(b[:20]); time.sleep(1.5)" : "  s.sendall(b)",
        "  while True:",
        "    d=s.recv(65536)",
        "    if not d: break",
        "    n+=len(d)",
        "except (ConnectionResetError, BrokenPipeError):",
        "  pass",
        "print(n)",
      ].join("\n");
    const asNobody = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", py(false)], { encoding: "utf8" });
    expect(asNobody.stderr + asNobody.stdout.trim()).toBe("0"); // closed without an answer
    const stalled = spawnSync("nsenter", [`--net=${node.path}`, "/usr/bin/python3", "-c", py(true)], { encoding: "utf8" });
    expect(stalled.stdout.trim()).toBe("12"); // an ack (refused), after the deadline
    const fine = spawnSync("nsenter", [`--net=${node.path}`, "/usr/bin/python3", "-c", py(false)], { encoding: "utf8" });
    expect(Number(fine.stdout.trim())).toBeGreaterThan(12 + 20); // ack + reply with the version JSON
    // Over the limit: the daemon refuses, the fallback answers (and has its own 4 MiB limit).
    const big = JSON.stringify({ cniVersion: "1.0.0", name: "x", type: "host-local", pad: "x".repeat(2 << 20) });
    const r = shim(dir, "host-local", node, { ...hlEnv("ADD", "b1"), TSCNI_SOCKET: socket }, big);
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(7); // from the fallback: the config is read, and host-local has no ranges
    expect(status(node, socket)!.served).toBe(d.served + 1); // the well-formed python request only
  });

  it("/etc/tscni/no-daemon turns the daemon off for the node: calls neither reach nor start one", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "host-local", node, VERSION);
    const d = await waitForDaemon(node);
    // The switch file, in a private mount namespace so that nothing else on this machine sees it.
    const call = (withFile: boolean) =>
      spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs t /etc && ${withFile ? "mkdir /etc/tscni && touch /etc/tscni/no-daemon && " : ""}exec nsenter --net=${node.path} -- "$0"`, path.join(dir, "host-local")], { env: { PATH, ...VERSION }, encoding: "utf8", input: "" });
    expect(call(true).status).toBe(0);
    expect(status(node)!.served).toBe(d.served);
    expect(call(false).status).toBe(0);
    expect(status(node)!.served).toBe(d.served + 1);
  });

  it("a spawned daemon exits after TSCNI_DAEMON_IDLE_EXIT seconds without a request", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "host-local", node, { ...VERSION, TSCNI_DAEMON_IDLE_EXIT: "2" });
    await waitForDaemon(node);
    await new Promise((r) => setTimeout(r, 3500));
    expect(status(node)).toBeUndefined();
    expect(fs.existsSync(daemonSocket(node.path)!)).toBe(false); // it removed its socket on the way out
  });

  it("leaves callers from another network namespace to the fallback", async () => {
    const dir = installDir();
    const a = scope.netns("dn");
    const b = scope.netns("dn");
    shim(dir, "host-local", a, VERSION);
    const d = await waitForDaemon(a);
    const r = shim(dir, "host-local", b, { ...VERSION, TSCNI_SOCKET: daemonSocket(a.path)!, TSCNI_NO_DAEMON: "1" });
    expect(r.code).toBe(0);
    expect(status(a)!.served).toBe(d.served);
  });

  it("serves concurrent ADDs correctly (one store, 12 callers at once) and keeps no state between requests", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    shim(dir, "host-local", node, VERSION);
    await waitForDaemon(node);
    const dataDir = scope.tmpdir("tscni-dconc-");
    const calls = Array.from({ length: 12 }, (_, i) =>
      new Promise<any>((resolve) => {
        const c = spawn("nsenter", [`--net=${node.path}`, "--", path.join(dir, "host-local")], { env: { PATH, ...hlEnv("ADD", `c${i}`) } });
        let out = "";
        c.stdout.on("data", (x) => (out += x));
        c.on("close", () => resolve(JSON.parse(out)));
        c.stdin.end(hostLocalConf(dataDir));
      }),
    );
    const results = await Promise.all(calls);
    const ips = results.map((r) => r.ips[0].address);
    expect(new Set(ips).size).toBe(12);
    expect(fs.readdirSync(path.join(dataDir, "dnet")).filter((f) => /^10\./.test(f))).toHaveLength(12);
    // A debug log asked for by one request is not written by the next.
    const logFile = path.join(scope.tmpdir("tscni-dlog-"), "log");
    shim(dir, "host-local", node, { ...hlEnv("DEL", "c0"), TSCNI_DEBUG_LOG: logFile }, hostLocalConf(dataDir));
    const size = fs.statSync(logFile).size;
    expect(size).toBeGreaterThan(0);
    shim(dir, "host-local", node, hlEnv("DEL", "c1"), hostLocalConf(dataDir));
    expect(fs.statSync(logFile).size).toBe(size);
  });

  it("status and stop for operators; a daemon started outside the host's mount namespace is not spawned", async () => {
    const dir = installDir();
    const node = scope.netns("dn");
    // Under `ip netns exec` (a private mount namespace) the shim's spawned daemon declines to serve.
    const r = spawnSync("ip", ["netns", "exec", node.name, path.join(dir, "host-local")], { env: { PATH, ...VERSION }, encoding: "utf8", input: "" });
    expect(r.status).toBe(0);
    // A spawned daemon would hold the socket's lock from before the shim exits (it inherits it).
    const lock = `${daemonSocket(node.path)!}.lock`;
    expect(fs.existsSync(lock) && lockHeld(lock)).toBe(false);
    expect(status(node)).toBeUndefined();
    shim(dir, "host-local", node, VERSION);
    const d = await waitForDaemon(node);
    const stop = spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "stop"], { encoding: "utf8", env: { PATH } });
    expect(stop.stdout).toBe(`stopped tscni daemon pid ${d.pid}\n`);
    expect(status(node)).toBeUndefined();
    const none = spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "status"], { encoding: "utf8", env: { PATH } });
    expect(none.status).toBe(3);
  });
});
