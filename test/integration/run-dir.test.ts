// Nobody but root can delay a call through /run/tscni (issue 17): the directory is root's and
// 0700, every file in it root's and 0600 (the addon 0500), so a local user cannot even open one to
// flock it; and where /run/tscni is not so, the shim neither uses nor starts a daemon there and
// the call still succeeds through the fallback (kernel/rundir.ts, native/shim/tscni_shim.c).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CniError } from "../../core/errors";
import { RUN_DIR, openPrivateFile } from "../../kernel/rundir";
import { LOCK_FILE } from "../../plugins/ebpf-bandwidth/ifb";
import { caught } from "../helpers/caught";
import { daemonSocket, daemonStatus, waitForDaemon } from "../helpers/mode";
import { NsScope, isRoot } from "../helpers/netns";
import { execPlugin, installInto, usingBuiltBinary } from "../helpers/plugin";
import { privateBpffs } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
const NOBODY = 65534;
const perm = (p: string) => fs.lstatSync(p).mode & 0o7777;
const openFds = () => fs.readdirSync("/proc/self/fd").length;

describe.skipIf(!isRoot())("openPrivateFile", () => {
  it("creates a missing file root's, 0600, open for reading and writing", () => {
    const f = path.join(scope.tmpdir("tscni-rundir-"), "x.lock");
    const fd = openPrivateFile(f);
    try {
      expect(fs.writeSync(fd, "ok")).toBe(2);
      expect([perm(f), fs.statSync(f).uid]).toEqual([0o600, 0]);
    } finally {
      fs.closeSync(fd);
    }
  });

  it("tightens an earlier build's 0644 file to 0600", () => {
    const f = path.join(scope.tmpdir("tscni-rundir-"), "x.lock");
    fs.writeFileSync(f, "", { mode: 0o644 });
    fs.closeSync(openPrivateFile(f));
    expect(perm(f)).toBe(0o600);
  });

  it("refuses a symbolic link, creating nothing at its target", () => {
    const dir = scope.tmpdir("tscni-rundir-");
    fs.symlinkSync(path.join(dir, "target"), path.join(dir, "x.lock"));
    const e = caught<CniError>(() => openPrivateFile(path.join(dir, "x.lock")));
    expect([e.code, e.msg]).toEqual([5, `refusing ${dir}/x.lock: it is a symbolic link`]);
    expect(fs.existsSync(path.join(dir, "target"))).toBe(false);
  });

  it("refuses a file that is not root's and leaves its mode alone, closing what it opened", () => {
    const f = path.join(scope.tmpdir("tscni-rundir-"), "x.lock");
    fs.writeFileSync(f, "", { mode: 0o644 });
    fs.chownSync(f, NOBODY, NOBODY);
    const before = openFds();
    const e = caught<CniError>(() => openPrivateFile(f));
    expect([e.code, e.msg]).toEqual([5, `refusing ${f}: it is owned by uid 65534, not root`]);
    expect(e.details).toBe("/run/tscni and every file in it must be root's and private to root (0700, 0600)");
    expect(perm(f)).toBe(0o644);
    expect(openFds()).toBe(before);
  });

  it("refuses a file with a second name elsewhere, leaving both modes alone", () => {
    const dir = scope.tmpdir("tscni-rundir-");
    fs.writeFileSync(path.join(dir, "other"), "", { mode: 0o644 });
    fs.linkSync(path.join(dir, "other"), path.join(dir, "x.lock"));
    expect(caught<CniError>(() => openPrivateFile(path.join(dir, "x.lock"))).msg).toBe(`refusing ${dir}/x.lock: it has 2 hard links`);
    expect(perm(path.join(dir, "other"))).toBe(0o644);
  });
});

/** Every entry of /run/tscni with what the rules say it must be; `problem` names a breach. */
function auditRunDir(): { name: string; problem?: string }[] {
  return fs.readdirSync(RUN_DIR).sort().flatMap((name) => {
    const st = fs.lstatSync(path.join(RUN_DIR, name), { throwIfNoEntry: false });
    if (!st) return []; // removed meanwhile (other tests' daemons come and go)
    const mode = st.mode & 0o7777;
    if (st.uid !== 0) return [{ name, problem: `owned by uid ${st.uid}` }];
    if (st.isSocket()) return [{ name }]; // reachable only through the 0700 directory
    if (!st.isFile()) return [{ name, problem: "neither a regular file nor a socket" }];
    const want = /^tscni_native-[0-9a-f]+\.node(\.\d+\.tmp)?$/.test(name) ? 0o500 : 0o600; // the addon: read and mapped only
    return [mode === want ? { name } : { name, problem: `mode ${mode.toString(8)}, not ${want.toString(8)}` }];
  });
}

/**
 * As user nobody: open each path read-only and, if that works, try to flock it (and connect to a
 * socket). Prints {path: "EACCES" | "locked" | ...} — what a local user could do to stall a call.
 */
const NOBODY_TRIES = `
import errno, fcntl, json, os, socket, sys
out = {}
def err(e): return errno.errorcode.get(e.errno, str(e.errno))
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out[p] = "locked"
        except OSError as e:
            out[p] = "opened, flock " + err(e)
        finally:
            os.close(fd)
    except OSError as e:
        out[p] = err(e)
    if p.endswith(".sock"):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(p)
            out[p] += "; connected"
        except OSError as e:
            out[p] += "; connect " + err(e)
        s.close()
print(json.dumps(out))
`;

/**
 * Calls that create what lives in /run/tscni: an ebpf-bandwidth DEL (its lock) in the fallback,
 * which unpacks the addon and starts the node's daemon (its socket and lock), then one in the daemon.
 */
async function populate() {
  const dir = installInto(scope);
  const node = scope.netns("rd");
  const pinRoot = privateBpffs(scope);
  const del = () =>
    execPlugin("ebpf-bandwidth", {
      command: "DEL", binDir: dir, node, containerID: "rd1", ifname: "eth0",
      config: { cniVersion: "1.0.0", name: "rdnet", type: "ebpf-bandwidth", pinRoot },
      rawEnv: { PATH, CNI_COMMAND: "DEL", CNI_CONTAINERID: "rd1", CNI_IFNAME: "eth0", CNI_PATH: dir },
    });
  expect(del()).toMatchObject({ code: 0, stdout: "" });
  const d = await waitForDaemon(node.path);
  expect(del()).toMatchObject({ code: 0, stdout: "" });
  expect(daemonStatus(node.path)!.served).toBe(d.served + 1);
  return node;
}

describe.skipIf(!canRun)("/run/tscni after real calls", () => {
  it("is root's and 0700, every file in it root's and 0600 (the addon 0500)", async () => {
    const node = await populate();
    expect([perm(RUN_DIR), fs.statSync(RUN_DIR).uid]).toEqual([0o700, 0]);
    const entries = auditRunDir();
    const names = entries.map((e) => e.name);
    expect(names).toContain(path.basename(LOCK_FILE));
    const socket = path.basename(daemonSocket(node.path)!);
    expect(names).toEqual(expect.arrayContaining([socket, `${socket}.lock`]));
    expect(names.some((n) => /^tscni_native-[0-9a-f]+\.node$/.test(n))).toBe(true);
    expect(entries.filter((e) => e.problem)).toEqual([]);
  });

  it("lets user nobody open, flock or connect to nothing in it", async () => {
    await populate();
    const paths = [RUN_DIR, ...auditRunDir().map((e) => path.join(RUN_DIR, e.name))];
    const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "/usr/bin/python3", "-c", NOBODY_TRIES, ...paths], { encoding: "utf8", env: { PATH } });
    expect(r.stderr).toBe("");
    const tried = JSON.parse(r.stdout) as Record<string, string>;
    const want = Object.fromEntries(paths.map((p) => [p, p.endsWith(".sock") ? "EACCES; connect EACCES" : "EACCES"]));
    expect(tried).toEqual(want);
  });
});

/**
 * One call sequence of the shim in a private mount namespace whose /run is a fresh tmpfs, with
 * /run/tscni made `how` (or missing); run as PID 1 of a private PID namespace, so the shim takes
 * the namespace for the host's and would start a daemon (which dies with the namespace). Reports,
 * as JSON:
 *   listened     a VERSION call while a root listener sits at the daemon's socket path (unless missing)
 *   connections  how many connections that listener got (the shim used the socket)
 *   spawning     a VERSION call with no socket there
 *   lock         whether the shim then created the daemon's lock (it does before starting one)
 *   add          a host-local ADD in the fallback (which unpacks the addon into /run/tscni)
 *   dir          /run/tscni's mode and owner afterwards
 */
const REFUSAL = `
import json, os, socket, subprocess, sys, threading
bindir, how = sys.argv[1], sys.argv[2]
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tscni-test-run", "/run"], check=True)
sock = "/run/tscni/tscni-%d.sock" % os.stat("/proc/self/ns/net").st_ino
base = {"PATH": os.environ["PATH"]}
def call(env, stdin=b""):
    r = subprocess.run([bindir + "/host-local"], input=stdin, env={**base, **env}, capture_output=True)
    return {"code": r.returncode, "stdout": r.stdout.decode(), "stderr": r.stderr.decode()}
out = {}
if how != "missing":
    os.mkdir("/run/tscni", 0o700)
    if how == "0755": os.chmod("/run/tscni", 0o755)
    if how == "nobody's": os.chown("/run/tscni", ${NOBODY}, ${NOBODY})
    conns = []
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock)
    listener.listen(8)
    def serve():
        try:
            while True:
                c, _ = listener.accept()
                conns.append(1)
                c.close()
        except OSError:
            pass
    threading.Thread(target=serve, daemon=True).start()
    out["listened"] = call({"CNI_COMMAND": "VERSION"})
    out["connections"] = len(conns)
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    os.unlink(sock)
out["spawning"] = call({"CNI_COMMAND": "VERSION"})
out["lock"] = os.path.exists(sock + ".lock")
conf = json.dumps({"cniVersion": "1.0.0", "name": "rnet", "type": "bridge",
                   "ipam": {"type": "host-local", "dataDir": "/run/hl", "ranges": [[{"subnet": "10.69.0.0/24"}]]}})
out["add"] = call({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "r1", "CNI_NETNS": "/nonexistent", "CNI_IFNAME": "eth0",
                   "CNI_PATH": "/nonexistent", "TSCNI_NO_DAEMON": "1"}, conf.encode())
st = os.lstat("/run/tscni")
out["dir"] = {"mode": oct(st.st_mode & 0o7777), "uid": st.st_uid}
print(json.dumps(out))
`;

describe.skipIf(!canRun)("a /run/tscni that is not root's alone", () => {
  function run(how: "missing" | "0700" | "0755" | "nobody's") {
    const dir = installInto(scope);
    const node = scope.netns("rr");
    const r = spawnSync("unshare", ["-m", "-p", "-f", "--mount-proc", "nsenter", `--net=${node.path}`, "--", "/usr/bin/python3", "-c", REFUSAL, dir, how], {
      encoding: "utf8", env: { PATH }, timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout);
  }
  const version = (r: { code: number; stdout: string }) => [r.code, JSON.parse(r.stdout).supportedVersions?.at(-1)];

  it("control: root's and 0700, the shim uses the daemon's socket and starts a daemon", () => {
    const r = run("0700");
    expect(version(r.listened)).toEqual([0, "1.1.0"]);
    expect(r.connections).toBe(1);
    expect(version(r.spawning)).toEqual([0, "1.1.0"]);
    expect(r.lock).toBe(true);
    expect([r.add.code, JSON.parse(r.add.stdout).ips[0].address]).toEqual([0, "10.69.0.2/24"]);
  });

  it("missing: the shim makes it root's and 0700 and starts a daemon", () => {
    const r = run("missing");
    expect(version(r.spawning)).toEqual([0, "1.1.0"]);
    expect(r.lock).toBe(true);
    expect(r.dir).toEqual({ mode: "0o700", uid: 0 });
  });

  it("0755 (an earlier build's): the shim neither uses nor starts a daemon, the fallback answers and tightens it", () => {
    const r = run("0755");
    expect(version(r.listened)).toEqual([0, "1.1.0"]);
    expect(r.connections).toBe(0);
    expect(version(r.spawning)).toEqual([0, "1.1.0"]);
    expect(r.lock).toBe(false);
    expect([r.add.code, JSON.parse(r.add.stdout).ips[0].address]).toEqual([0, "10.69.0.2/24"]);
    expect(r.dir).toEqual({ mode: "0o700", uid: 0 }); // by the ADD, which unpacked the addon there
  });

  it("not root's: the shim neither uses nor starts a daemon; what needs the directory is refused with code 5", () => {
    const r = run("nobody's");
    expect(version(r.listened)).toEqual([0, "1.1.0"]);
    expect(r.connections).toBe(0);
    expect(version(r.spawning)).toEqual([0, "1.1.0"]);
    expect(r.lock).toBe(false);
    expect([r.add.code, JSON.parse(r.add.stdout)]).toEqual([1, {
      cniVersion: "1.0.0", code: 5, msg: "refusing /run/tscni: it is owned by uid 65534, not root",
      details: "/run/tscni and every file in it must be root's and private to root (0700, 0600)",
    }]);
    expect(r.dir).toEqual({ mode: "0o700", uid: NOBODY });
  });
});
