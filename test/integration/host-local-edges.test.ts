// host-local at the edges of its store (issue #11): network names up to NAME_MAX, compared with
// the Go reference; symbolic links planted wherever we write (side files, the cache directory,
// `lock`, `last_reserved_ip.N`), which must never be written through; a read-only cache directory.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { withStore } from "../../ipam/host-local/disk-store";
import { FileLock } from "../../kernel/flock";
import { cacheFileName } from "../../ipam/host-local/side-files";
import { isRoot, NsScope } from "../helpers/netns";
import { modeEnv } from "../helpers/mode";
import { lockWaiters, until } from "../helpers/wait";
import { execPlugin, haveReference, ourBinDir, REFERENCE_DIR, usingBuiltBinary, type ExecResult } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());
beforeAll(() => {
  if (!usingBuiltBinary()) throw new Error("dist/tscni missing: run `npm run build` first");
});
const canRun = isRoot() && haveReference("host-local");

const SIDE = ".tscni-host-local";

interface Opts {
  name?: string;
  extra?: object;
  /** Run the Go reference (which speaks up to 1.0.0) instead of ours. */
  ref?: boolean;
  cniVersion?: string;
}

const netconf = (dataDir: string, o: Opts) => ({
  cniVersion: o.cniVersion ?? (o.ref ? "1.0.0" : "1.1.0"), name: o.name ?? "hlnet", type: "bridge", ...o.extra,
  ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.80.0.0/29" }]] },
});

function exec(cmd: string, dataDir: string, id = "", o: Opts = {}): ExecResult {
  return execPlugin("host-local", {
    command: cmd, config: netconf(dataDir, o), containerID: id, netns: "/x", ifname: "eth0",
    ...(o.ref ? { binDir: REFERENCE_DIR } : {}),
  });
}

const addr = (r: ExecResult) => (r.code === 0 ? r.json.ips[0].address : `error ${r.stdout}`);
const keep = (...ids: string[]) => ({ "cni.dev/valid-attachments": ids.map((containerID) => ({ containerID, ifname: "eth0" })) });

/** Every file of a network directory → mode and content: what the reference sees. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, f));
    out[f] = `${(st.mode & 0o777).toString(8)} ${fs.readFileSync(path.join(dir, f), "utf8")}`;
  }
  return out;
}

describe.skipIf(!canRun)("host-local network names up to NAME_MAX", () => {
  it("names of 244-255 bytes work for ADD and DEL exactly as with the reference", () => {
    for (const len of [244, 245, 246, 250, 255]) {
      const name = `n${len}-`.padEnd(len, "x");
      const [ours, ref] = [scope.tmpdir("hl-long-ours-"), scope.tmpdir("hl-long-ref-")];
      const steps: [string, string][] = [["ADD", "a"], ["ADD", "b"], ["DEL", "a"], ["ADD", "c"], ["ADD", "b"], ["DEL", "b"], ["DEL", "zz"]];
      for (const [cmd, id] of steps) {
        const o = exec(cmd, ours, id, { name, cniVersion: "1.0.0" });
        const r = exec(cmd, ref, id, { name, ref: true });
        const outcome = (x: ExecResult) => (x.code === 0 ? `ok ${x.stdout.replace(/\n$/, "")}` : "error");
        expect(outcome(o), `${len} ${cmd} ${id}: ${o.stdout}`).toBe(outcome(r));
        expect(snapshot(path.join(ours, name)), `${len} after ${cmd} ${id}`).toEqual(snapshot(path.join(ref, name)));
      }
      expect(Object.keys(snapshot(path.join(ours, name)))).toEqual(["10.80.0.4", "last_reserved_ip.0", "lock"]);
      for (const f of fs.readdirSync(path.join(ours, SIDE))) expect(Buffer.byteLength(f), f).toBeLessThanOrEqual(255);
    }
  });

  it("CHECK, GC and STATUS work for a 255-byte name", () => {
    const d = scope.tmpdir("hl-long-");
    const name = "m".repeat(255);
    const a = exec("ADD", d, "a", { name });
    expect(addr(a)).toBe("10.80.0.2/29");
    expect(addr(exec("ADD", d, "b", { name }))).toBe("10.80.0.3/29");
    expect(exec("CHECK", d, "a", { name, extra: { prevResult: a.json } }).code).toBe(0);
    expect(exec("STATUS", d, "", { name }).code).toBe(0);
    expect(exec("GC", d, "", { name, extra: keep("b") }).code).toBe(0);
    expect(Object.keys(snapshot(path.join(d, name)))).toEqual(["10.80.0.3", "last_reserved_ip.0", "lock"]);
  });

  it("the cache works for a 255-byte name and is distrusted when it belongs to another network", () => {
    const d = scope.tmpdir("hl-long-cache-");
    const [n1, n2] = ["k".repeat(255), `${"k".repeat(254)}j`];
    const look = (n: string) => withStore(d, n, { create: true }, (s) => [s.fromCache, [...s.list()]]);
    withStore(d, n1, { create: true }, (s) => s.reserve("10.0.0.2", "a", "eth0", 0));
    withStore(d, n2, { create: true }, (s) => s.reserve("10.0.0.7", "b", "eth0", 0));
    expect(look(n1)).toEqual([true, [["10.0.0.2", "a\r\neth0"]]]);
    expect(look(n2)).toEqual([true, [["10.0.0.7", "b\r\neth0"]]]);
    expect(fs.readdirSync(path.join(d, SIDE)).sort()).toEqual([cacheFileName(n1), cacheFileName(n2)].sort());
    // The same cache, but its header names another network (two long names can share a file name).
    const file = path.join(d, SIDE, cacheFileName(n1));
    const text = fs.readFileSync(file, "utf8");
    expect(text).toContain(`"net":"${n1}"`);
    fs.writeFileSync(file, text.replace(`"net":"${n1}"`, `"net":"${n2}"`));
    expect(look(n1)).toEqual([false, [["10.0.0.2", "a\r\neth0"]]]);
    // A cache cut short (its body no longer has the recorded length) is distrusted too.
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/\0[^\0]*\x01[^\0]*\0$/, "\0"));
    expect(look(n1)).toEqual([false, [["10.0.0.2", "a\r\neth0"]]]);
    expect(look(n1)).toEqual([true, [["10.0.0.2", "a\r\neth0"]]]);
  });

  it("a name over 255 bytes: ADD, CHECK, GC and STATUS answer code 7, DEL succeeds, nothing is created", () => {
    const d = scope.tmpdir("hl-toolong-");
    const name = "n".repeat(256);
    const details = `network name "${name}" is 256 bytes; host-local keeps each network in a directory of that name, at most 255 bytes (NAME_MAX)`;
    for (const [cmd, extra] of [["ADD", {}], ["CHECK", {}], ["GC", keep()], ["STATUS", {}]] as const) {
      const r = exec(cmd, d, cmd === "GC" || cmd === "STATUS" ? "" : "a", { name, extra });
      expect(r.json, cmd).toEqual({ cniVersion: "1.1.0", code: 7, msg: `invalid "name"`, details });
    }
    const del = exec("DEL", d, "a", { name });
    expect([del.code, del.stdout]).toEqual([0, ""]);
    expect(fs.readdirSync(d)).toEqual([]);
  });
});

/** Regular files outside dataDir that planted symlinks point at; none may ever change. */
function victims(n: number) {
  const dir = scope.tmpdir("hl-victim-");
  const files = Array.from({ length: n }, (_, i) => {
    const f = path.join(dir, `v${i}`);
    fs.writeFileSync(f, `precious ${i}`);
    return f;
  });
  const intact = () => {
    expect(fs.readdirSync(dir).sort()).toEqual(files.map((f) => path.basename(f)).sort());
    files.forEach((f, i) => expect(fs.readFileSync(f, "utf8"), f).toBe(`precious ${i}`));
  };
  return { dir, files, intact };
}

const replant = (target: string, link: string) => {
  fs.rmSync(link, { force: true, recursive: true });
  fs.symlinkSync(target, link);
};

describe.skipIf(!canRun)("host-local never follows a symlink to write", () => {
  it("symlinks planted in .tscni-host-local under every name we use or used: targets untouched, every command works", () => {
    const d = scope.tmpdir("hl-sym-");
    fs.mkdirSync(path.join(d, SIDE));
    const v = victims(5);
    const names = ["hlnet.cache.tmp", "hlnet.probe", "hlnet.reserve.tmp", "hlnet.cache", "hlnet.tmp"];
    const plant = () => names.forEach((n, i) => replant(v.files[i]!, path.join(d, SIDE, n)));
    plant();
    const a = exec("ADD", d, "a");
    expect(addr(a)).toBe("10.80.0.2/29");
    plant();
    expect(addr(exec("ADD", d, "b"))).toBe("10.80.0.3/29");
    plant();
    expect(exec("CHECK", d, "a", { extra: { prevResult: a.json } }).code).toBe(0);
    plant();
    expect(exec("STATUS", d).code).toBe(0);
    plant();
    expect(exec("DEL", d, "a").code).toBe(0);
    plant();
    expect(exec("GC", d, "", { extra: keep() }).code).toBe(0);
    v.intact();
    expect(Object.keys(snapshot(path.join(d, "hlnet")))).toEqual(["last_reserved_ip.0", "lock"]);
  });

  it("a cache symlinked to a FIFO does not hang ADD", () => {
    const d = scope.tmpdir("hl-fifo-");
    fs.mkdirSync(path.join(d, SIDE));
    const fifo = path.join(scope.tmpdir("hl-fifo-target-"), "fifo");
    spawnSync("mkfifo", [fifo]);
    fs.symlinkSync(fifo, path.join(d, SIDE, "hlnet.cache"));
    const r = spawnSync(path.join(ourBinDir(), "host-local"), [], {
      input: JSON.stringify(netconf(d, {})), encoding: "utf8", timeout: 20_000,
      env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "a", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: ourBinDir(), ...modeEnv() },
    });
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(JSON.parse(r.stdout).ips[0].address).toBe("10.80.0.2/29");
  });

  it(".tscni-host-local as a symlink or a regular file: no cache, nothing written through, every command works", () => {
    for (const kind of ["symlink", "file"] as const) {
      const d = scope.tmpdir("hl-sidedir-");
      const outside = scope.tmpdir("hl-outside-");
      if (kind === "symlink") fs.symlinkSync(outside, path.join(d, SIDE));
      else fs.writeFileSync(path.join(d, SIDE), "not a directory");
      const a = exec("ADD", d, "a");
      expect(addr(a), kind).toBe("10.80.0.2/29");
      expect(addr(exec("ADD", d, "b")), kind).toBe("10.80.0.3/29");
      expect(exec("CHECK", d, "a", { extra: { prevResult: a.json } }).code, kind).toBe(0);
      expect(exec("STATUS", d).code, kind).toBe(0);
      expect(exec("DEL", d, "a").code, kind).toBe(0);
      expect(exec("GC", d, "", { extra: keep("b") }).code, kind).toBe(0);
      expect(addr(exec("ADD", d, "c")), kind).toBe("10.80.0.4/29");
      expect(Object.keys(snapshot(path.join(d, "hlnet"))), kind).toEqual(["10.80.0.3", "10.80.0.4", "last_reserved_ip.0", "lock"]);
      expect(fs.readdirSync(outside), kind).toEqual([]);
      if (kind === "symlink") expect(fs.readlinkSync(path.join(d, SIDE))).toBe(outside);
      else expect(fs.readFileSync(path.join(d, SIDE), "utf8")).toBe("not a directory");
    }
  });

  it("a read-only .tscni-host-local only costs the cache", () => {
    const d = scope.tmpdir("hl-rocache-");
    const side = path.join(d, SIDE);
    fs.mkdirSync(side);
    mountOrThrow(["--bind", side, side]);
    scope.onCleanup(() => spawnSync("umount", [side]));
    mountOrThrow(["-o", "remount,bind,ro", side]);
    expect(addr(exec("ADD", d, "a"))).toBe("10.80.0.2/29");
    expect(addr(exec("ADD", d, "b"))).toBe("10.80.0.3/29");
    expect(exec("STATUS", d).code).toBe(0);
    expect(exec("DEL", d, "a").code).toBe(0);
    expect(Object.keys(snapshot(path.join(d, "hlnet")))).toEqual(["10.80.0.3", "last_reserved_ip.0", "lock"]);
  });

  it("last_reserved_ip.0, the temp file's name and a reservation's name as symlinks, last_reserved_ip.0 hard-linked", () => {
    const d = scope.tmpdir("hl-symnet-");
    const net = path.join(d, "hlnet");
    fs.mkdirSync(net);
    const v = victims(3);
    fs.symlinkSync(v.files[0]!, path.join(net, "last_reserved_ip.0"));
    fs.symlinkSync(v.files[1]!, path.join(net, ".tscni-host-local.tmp"));
    fs.symlinkSync(v.files[2]!, path.join(net, "10.80.0.2"));
    expect(addr(exec("ADD", d, "a"))).toBe("10.80.0.3/29");
    v.intact();
    expect(fs.lstatSync(path.join(net, "last_reserved_ip.0")).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(net, "last_reserved_ip.0"), "utf8")).toBe("10.80.0.3");
    expect(fs.existsSync(path.join(net, ".tscni-host-local.tmp"))).toBe(false);
    expect(fs.readlinkSync(path.join(net, "10.80.0.2"))).toBe(v.files[2]);
    // A hard link (same file system) is written through by an in-place write: replaced instead.
    const hard = path.join(d, "hard-victim");
    fs.writeFileSync(hard, "precious");
    fs.rmSync(path.join(net, "last_reserved_ip.0"));
    fs.linkSync(hard, path.join(net, "last_reserved_ip.0"));
    expect(addr(exec("ADD", d, "b"))).toBe("10.80.0.4/29");
    expect(fs.readFileSync(hard, "utf8")).toBe("precious");
    expect(fs.readFileSync(path.join(net, "last_reserved_ip.0"), "utf8")).toBe("10.80.0.4");
    expect(exec("DEL", d, "a").code).toBe(0);
    expect(Object.keys(snapshot(net))).toEqual(["10.80.0.2", "10.80.0.4", "last_reserved_ip.0", "lock"]);
  });
});

function mountOrThrow(args: string[]) {
  const r = spawnSync("mount", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount ${args.join(" ")}: ${r.stderr}`);
}

describe.skipIf(!canRun)("host-local's lock file as a symlink", () => {
  it("to a regular file: that file is locked (as the reference does), read-only, and every command works", async () => {
    const d = scope.tmpdir("hl-locklink-");
    const net = path.join(d, "hlnet");
    fs.mkdirSync(net);
    const v = victims(1);
    fs.symlinkSync(v.files[0]!, path.join(net, "lock"));
    const a = exec("ADD", d, "a");
    expect(addr(a)).toBe("10.80.0.2/29");
    expect(exec("CHECK", d, "a", { extra: { prevResult: a.json } }).code).toBe(0);
    expect(exec("STATUS", d).code).toBe(0);
    expect(addr(exec("ADD", d, "b"))).toBe("10.80.0.3/29");
    expect(exec("GC", d, "", { extra: keep("a") }).code).toBe(0);
    expect(exec("DEL", d, "a").code).toBe(0);
    expect(Object.keys(snapshot(net))).toEqual(["last_reserved_ip.0", "lock"]);
    expect(fs.readlinkSync(path.join(net, "lock"))).toBe(v.files[0]);
    v.intact();
    // Serialised with whoever holds the target: an ADD waits while we hold it.
    const held = FileLock.acquire(v.files[0]!);
    scope.onCleanup(() => held.release());
    const child = spawn(path.join(ourBinDir(), "host-local"), [], {
      env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: ourBinDir(), ...modeEnv() },
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    const exit = new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    child.stdin.end(JSON.stringify(netconf(d, {})));
    await until(() => lockWaiters(v.files[0]!) > 0, "the ADD to wait for the lock's target");
    expect(child.exitCode).toBe(null);
    held.release();
    expect(await exit, out).toBe(0);
    expect(JSON.parse(out).ips[0].address).toBe("10.80.0.4/29");
  });

  it("dangling or to a directory: replaced by a regular lock file, nothing created at the target", () => {
    for (const kind of ["dangling", "directory"] as const) {
      const d = scope.tmpdir("hl-lockbad-");
      const net = path.join(d, "hlnet");
      fs.mkdirSync(net);
      const outside = scope.tmpdir("hl-lockout-");
      const target = kind === "dangling" ? path.join(outside, "missing") : outside;
      fs.symlinkSync(target, path.join(net, "lock"));
      expect(addr(exec("ADD", d, "a")), kind).toBe("10.80.0.2/29");
      expect(fs.lstatSync(path.join(net, "lock")).isFile(), kind).toBe(true);
      expect(fs.readdirSync(outside), kind).toEqual([]);
      expect(Object.keys(snapshot(net)), kind).toEqual(["10.80.0.2", "last_reserved_ip.0", "lock"]);
    }
  });

  it("DEL, GC and ADD after the lock became a dangling symlink, and the reference still serialises", () => {
    const d = scope.tmpdir("hl-lockdel-");
    const net = path.join(d, "hlnet");
    for (const id of ["a", "b", "c"]) expect(exec("ADD", d, id).code).toBe(0);
    const dangling = path.join(scope.tmpdir("hl-lockgone-"), "gone");
    replant(dangling, path.join(net, "lock"));
    expect(exec("DEL", d, "a").code).toBe(0);
    replant(dangling, path.join(net, "lock"));
    expect(exec("GC", d, "", { extra: keep("c") }).code).toBe(0);
    replant(dangling, path.join(net, "lock"));
    expect(addr(exec("ADD", d, "d"))).toBe("10.80.0.5/29");
    expect(fs.existsSync(dangling)).toBe(false);
    expect(Object.keys(snapshot(net))).toEqual(["10.80.0.4", "10.80.0.5", "last_reserved_ip.0", "lock"]);
    expect(addr(exec("ADD", d, "e", { ref: true }))).toBe("10.80.0.6/29");
  });

  it("concurrent ADDs meeting a dangling lock symlink replace it once and still exclude each other", async () => {
    const d = scope.tmpdir("hl-lockrace-");
    const net = path.join(d, "hlnet");
    fs.mkdirSync(net);
    fs.symlinkSync(path.join(scope.tmpdir("hl-lockrace-gone-"), "gone"), path.join(net, "lock"));
    const add = (id: string) =>
      new Promise<string>((resolve) => {
        const child = spawn(path.join(ourBinDir(), "host-local"), [], {
          env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: id, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: ourBinDir(), ...modeEnv() },
        });
        let out = "";
        child.stdout.on("data", (b) => (out += b));
        child.on("close", () => resolve(out));
        child.stdin.end(JSON.stringify(netconf(d, {})));
      });
    const outs = await Promise.all(["a", "b", "c", "d", "e"].map(add));
    const got = outs.map((o) => JSON.parse(o).ips?.[0]?.address ?? o).sort();
    expect(got).toEqual(["10.80.0.2/29", "10.80.0.3/29", "10.80.0.4/29", "10.80.0.5/29", "10.80.0.6/29"]);
    expect(fs.lstatSync(path.join(net, "lock")).isFile()).toBe(true);
    expect(Object.keys(snapshot(net))).toEqual(["10.80.0.2", "10.80.0.3", "10.80.0.4", "10.80.0.5", "10.80.0.6", "last_reserved_ip.0", "lock"]);
  });

  it("an error about the lock names the lock file", () => {
    const d = scope.tmpdir("hl-lockdir-");
    const net = path.join(d, "hlnet");
    fs.mkdirSync(path.join(net, "lock"), { recursive: true });
    for (const cmd of ["ADD", "DEL"]) {
      const r = exec(cmd, d, "a");
      expect(r.json, cmd).toEqual({ cniVersion: "1.1.0", code: 5, msg: `host-local store: cannot open lock file ${path.join(net, "lock")}`, details: "EISDIR" });
    }
  });
});
