// The shim and daemon under faults (issue #12): the daemon SIGKILLed before it reads a request and
// before it replies, a stale socket file, a socket owned by another user, and 64 calls at once.
// The rule under test: a request is run at most once — never replayed after the daemon acked it —
// the caller always gets either the real answer or a clean CNI error, and a DEL then cleans up.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { daemonSocket } from "../helpers/mode";
import { type Netns, NsScope, isRoot } from "../helpers/netns";
import { DIST_BIN, usingBuiltBinary } from "../helpers/plugin";
import { until } from "../helpers/wait";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";

function installDir(): string {
  const dir = scope.tmpdir("tscni-fault-bin-");
  expect(spawnSync(DIST_BIN, ["install", "--dir", dir], { env: { PATH } }).status).toBe(0);
  return dir;
}

const conf = (dataDir: string) => JSON.stringify({ cniVersion: "1.0.0", name: "fnet", type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.68.0.0/24" }]] } });
const env = (cmd: string, id: string, extra: Record<string, string> = {}) => ({ PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: "/nonexistent", ...extra });
const reservations = (dataDir: string) => (fs.existsSync(path.join(dataDir, "fnet")) ? fs.readdirSync(path.join(dataDir, "fnet")).filter((f) => /^10\./.test(f)).sort() : []);

function hostLocal(dir: string, node: Netns, e: Record<string, string>, stdin: string) {
  const r = spawnSync("nsenter", [`--net=${node.path}`, "--", path.join(dir, "host-local")], { input: stdin, env: e, encoding: "utf8" });
  return { code: r.status ?? -1, json: r.stdout ? JSON.parse(r.stdout) : undefined };
}

/** A configured daemon for `node` that kills itself at `fault` in its first request. */
async function faultyDaemon(node: Netns, fault: string) {
  const sock = daemonSocket(node.path)!;
  fs.rmSync(sock, { force: true }); // a namespace's inode can be reused: never wait on an old file
  const child = spawn("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon"], { stdio: "ignore", env: { PATH, TSCNI_DAEMON_FAULT: fault } });
  scope.onCleanup(() => child.kill("SIGKILL"));
  await until(() => fs.existsSync(sock), "the daemon's socket");
  return { child, exited: new Promise<void>((r) => child.on("exit", () => r())) };
}

describe.skipIf(!canRun)("shim and daemon under faults", () => {
  it("daemon killed before reading: the shim falls back, the ADD runs exactly once", async () => {
    const dir = installDir();
    const node = scope.netns("df");
    const dataDir = scope.tmpdir("tscni-fault-");
    const d = await faultyDaemon(node, "before-read");
    const r = hostLocal(dir, node, env("ADD", "f1", { TSCNI_NO_DAEMON: "1", TSCNI_SOCKET: daemonSocket(node.path)! }), conf(dataDir));
    await d.exited;
    expect(r.code).toBe(0);
    expect(r.json.ips[0].address).toBe("10.68.0.2/24");
    expect(reservations(dataDir)).toEqual(["10.68.0.2"]);
  });

  it("daemon killed before replying: code 11, no replay; DEL then cleans up and the next call works", async () => {
    const dir = installDir();
    const node = scope.netns("df");
    const dataDir = scope.tmpdir("tscni-fault-");
    const d = await faultyDaemon(node, "before-reply");
    const r = hostLocal(dir, node, env("ADD", "f2"), conf(dataDir));
    await d.exited;
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(11);
    expect(reservations(dataDir)).toEqual(["10.68.0.2"]); // it ran, once
    // The stale socket left by the killed daemon: the next call falls back and starts a new one.
    const del = hostLocal(dir, node, env("DEL", "f2"), conf(dataDir));
    expect(del.code).toBe(0);
    expect(reservations(dataDir)).toEqual([]);
    const again = hostLocal(dir, node, env("ADD", "f3"), conf(dataDir));
    expect(again.code).toBe(0);
    expect(again.json.ips[0].address).toBe("10.68.0.3/24");
  });

  it("a stale socket file (no listener) is replaced by a fresh daemon", async () => {
    const dir = installDir();
    const node = scope.netns("df");
    const sock = daemonSocket(node.path)!;
    fs.mkdirSync("/run/tscni", { recursive: true, mode: 0o700 });
    expect(spawnSync("/usr/bin/python3", ["-c", `import socket;s=socket.socket(socket.AF_UNIX);s.bind(${JSON.stringify(sock)})`]).status).toBe(0);
    // No cleanup of our own: the daemon that replaces this file is stopped with the namespace, and
    // stopDaemon removes a socket nobody listens on.
    const r = hostLocal(dir, node, env("VERSION", ""), "");
    expect(r.code).toBe(0);
    await until(() => spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "status"], { env: { PATH } }).status === 0, "a fresh daemon to answer", 10_000, 50);
  });

  it("never hands a request to a socket another user owns", async () => {
    const dir = installDir();
    const node = scope.netns("df");
    const sockDir = scope.tmpdir("tscni-foreign-");
    fs.chmodSync(sockDir, 0o777);
    const sock = path.join(sockDir, "s.sock");
    const log = path.join(sockDir, "got");
    // An impostor listening as nobody, recording how many bytes it is sent.
    const server = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
      `import socket\ns=socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(sock)})\ns.listen(4)\nc,_=s.accept()\nn=0\nc.settimeout(2)\ntry:\n  while True:\n    d=c.recv(65536)\n    if not d: break\n    n+=len(d)\nexcept Exception:\n  pass\nopen(${JSON.stringify(log)},"w").write(str(n))`]);
    scope.onCleanup(() => server.kill());
    await until(() => fs.existsSync(sock), "the impostor to listen");
    const dataDir = scope.tmpdir("tscni-fault-");
    const r = hostLocal(dir, node, env("ADD", "f4", { TSCNI_SOCKET: sock, TSCNI_NO_DAEMON: "1" }), conf(dataDir));
    expect(r.code).toBe(0);
    expect(r.json.ips[0].address).toBe("10.68.0.2/24");
    await new Promise((res) => server.on("exit", res));
    expect(fs.readFileSync(log, "utf8")).toBe("0");
  });

  it("64 calls at once through the shims: 64 distinct addresses, one daemon", async () => {
    const dir = installDir();
    const node = scope.netns("df");
    hostLocal(dir, node, env("VERSION", ""), "");
    const status = () => spawnSync("nsenter", [`--net=${node.path}`, DIST_BIN, "daemon", "status"], { encoding: "utf8", env: { PATH } });
    await until(() => status().status === 0, "the spawned daemon to answer", 10_000, 50);
    const dataDir = scope.tmpdir("tscni-fault-");
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        new Promise<any>((resolve) => {
          const c = spawn("nsenter", [`--net=${node.path}`, "--", path.join(dir, "host-local")], { env: env("ADD", `p${i}`) });
          let out = "";
          c.stdout.on("data", (x) => (out += x));
          c.on("close", (code) => resolve({ code, json: JSON.parse(out) }));
          c.stdin.end(conf(dataDir));
        }),
      ),
    );
    expect(results.filter((r) => r.code !== 0)).toEqual([]);
    expect(new Set(results.map((r) => r.json.ips[0].address)).size).toBe(64);
    expect(reservations(dataDir)).toHaveLength(64);
    expect(status().stdout).toMatch(/, 64 requests,/); // the 64 ADDs, all through the one daemon (spawned by the VERSION)
  });
});
