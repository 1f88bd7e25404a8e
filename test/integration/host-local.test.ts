// host-local as runtimes drive it: processes of our executable and of the Go reference
// (/usr/lib/cni/host-local) on the same configs. Differential: the same sequence gives the same
// stdout and the same store files byte for byte; interop: one store driven alternately by both;
// then CHECK, GC, STATUS, legacy files, path safety and crash safety.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRoot, NsScope } from "../helpers/netns";
import { execPlugin, haveReference, ourBinDir, REFERENCE_DIR, usingBuiltBinary, type ExecResult } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());
beforeAll(() => {
  if (!usingBuiltBinary()) throw new Error("dist/tscni missing: run `npm run build` first");
});
const canRun = isRoot() && haveReference("host-local");

type Who = "ours" | "ref";
interface Step {
  who?: Who;
  cmd: "ADD" | "DEL" | "CHECK" | "GC" | "STATUS";
  id: string;
  ifname?: string;
  args?: string;
  /** Extra top-level config keys (runtimeConfig, args, prevResult, …). */
  extra?: object;
}

// Go's PrintResult ends without a newline, our dispatcher (core/skel.ts) adds one: not ours to change.
const body = (stdout: string) => stdout.replace(/\n$/, "");

// The reference needs a parent plugin type only in the config; runtimes always send one.
const netconf = (dataDir: string, ipam: object, extra: object = {}, cniVersion = "1.0.0") => ({
  cniVersion, name: "hlnet", type: "bridge", ...extra, ipam: { type: "host-local", dataDir, ...ipam },
});

function run(who: Who, s: Step, dataDir: string, ipam: object, cniVersion = "1.0.0"): ExecResult {
  return execPlugin("host-local", {
    command: s.cmd, config: netconf(dataDir, ipam, s.extra, cniVersion), containerID: s.id, netns: "/var/run/netns/none",
    ifname: s.ifname ?? "eth0", args: s.args ?? "", ...(who === "ref" ? { binDir: REFERENCE_DIR } : {}),
  });
}

/** The network directory as the reference sees it: every file name → its bytes (hex) and mode. */
function snapshot(dataDir: string): Record<string, string> {
  const dir = path.join(dataDir, "hlnet");
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, f));
    out[f] = `${(st.mode & 0o777).toString(8)} ${fs.readFileSync(path.join(dir, f)).toString("hex")}`;
  }
  return out;
}

/** Outcome that must match between the two plugins: success and stdout, or failure (codes differ by design). */
const outcome = (r: ExecResult) => (r.code === 0 ? `ok ${body(r.stdout)}` : "error");

function differential(ipam: object, steps: Step[]) {
  const [a, b] = [scope.tmpdir("hl-ours-"), scope.tmpdir("hl-ref-")];
  steps.forEach((s, i) => {
    const ours = run("ours", s, a, ipam);
    const ref = run("ref", s, b, ipam);
    expect(outcome(ours), `step ${i} ${s.cmd} ${s.id}: ${ours.stdout} vs ${ref.stdout}`).toBe(outcome(ref));
    expect(snapshot(a), `store after step ${i}`).toEqual(snapshot(b));
  });
}

const adds = (ids: string[], extra: Partial<Step> = {}): Step[] => ids.map((id) => ({ cmd: "ADD", id, ...extra }));
const dels = (ids: string[], extra: Partial<Step> = {}): Step[] => ids.map((id) => ({ cmd: "DEL", id, ...extra }));

describe.skipIf(!canRun)("host-local differential against the Go reference", () => {
  it("default IPv4 range: order, round robin after DEL, exhaustion, idempotent DEL", () => {
    differential({ ranges: [[{ subnet: "10.10.0.0/29" }]] }, [
      ...adds(["a", "b", "c"]),
      ...dels(["b", "b", "zz"]),
      ...adds(["d", "e", "f", "g", "h"]),
      ...dels(["a"]),
      ...adds(["i"]),
    ]);
  });

  it("dual stack, several ranges per set, explicit gateways and routes", () => {
    differential(
      {
        ranges: [
          [{ subnet: "10.20.0.0/24", rangeStart: "10.20.0.250", rangeEnd: "10.20.0.252", gateway: "10.20.0.251" }, { subnet: "10.21.0.0/30" }],
          [{ subnet: "2001:db8:1::/64", rangeStart: "2001:db8:1::fffe", rangeEnd: "2001:db8:1::1:1" }],
        ],
        routes: [{ dst: "0.0.0.0/0" }, { dst: "192.168.0.0/16", gw: "10.20.0.251" }, { dst: "3ffe:ffff:0:01ff::1/64" }],
      },
      [...adds(["a", "b", "c", "d"]), ...dels(["b"]), ...adds(["e", "f"]), { cmd: "ADD", id: "a", ifname: "net1" }, ...dels(["a"])],
    );
  });

  it("legacy top-level range, ipRanges capability, requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips", () => {
    differential({ subnet: "10.30.0.0/24", rangeStart: "10.30.0.10" }, [
      { cmd: "ADD", id: "a", args: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.30.0.20" },
      ...adds(["b"]),
      { cmd: "ADD", id: "c", extra: { args: { cni: { ips: ["10.30.0.21"] } } } },
      { cmd: "ADD", id: "d", extra: { runtimeConfig: { ips: ["10.30.0.22/24"] } } },
      { cmd: "ADD", id: "e", args: "IP=10.30.0.20" }, // taken: both fail
      { cmd: "ADD", id: "f", extra: { runtimeConfig: { ipRanges: [[{ subnet: "10.31.0.0/24" }]] } } },
      ...adds(["g"]),
      ...dels(["a", "f"]),
    ]);
  });

  it("prints the same result with resolvConf and for old spec versions", () => {
    const resolv = path.join(scope.tmpdir("hl-resolv-"), "resolv.conf");
    fs.writeFileSync(resolv, "nameserver 10.0.0.53\nsearch a.example b.example\noptions ndots:2\ndomain x.example\n");
    for (const v of ["0.2.0", "0.3.1", "0.4.0", "1.0.0"]) {
      const [a, b] = [scope.tmpdir("hl-ours-"), scope.tmpdir("hl-ref-")];
      const ipam = { ranges: [[{ subnet: "10.40.0.0/24" }]], resolvConf: resolv, routes: [{ dst: "0.0.0.0/0" }] };
      const ours = run("ours", { cmd: "ADD", id: "a" }, a, ipam, v);
      const ref = run("ref", { cmd: "ADD", id: "a" }, b, ipam, v);
      expect(ours.code, ours.stdout).toBe(0);
      expect(body(ours.stdout), v).toBe(body(ref.stdout));
    }
  });

  it("one store driven alternately by both plugins stays consistent (both directions)", () => {
    const ipam = { ranges: [[{ subnet: "10.50.0.0/28" }], [{ subnet: "2001:db8:50::/120" }]] };
    const steps: Step[] = [
      ...adds(["a", "b", "c", "d", "e", "f"]),
      ...dels(["b", "e"]),
      ...adds(["g", "h", "b"]),
      ...dels(["a", "c"]),
      { cmd: "ADD", id: "d" }, // duplicate: both refuse
      ...adds(["i", "j", "k", "l", "m", "n", "o"]),
      ...dels(["d", "g", "zz"]),
      ...adds(["p", "q"]),
    ];
    for (const first of ["ours", "ref"] as const) {
      const [mixed, pure] = [scope.tmpdir("hl-mixed-"), scope.tmpdir("hl-pure-")];
      steps.forEach((s, i) => {
        const who: Who = (i % 2 === 0) === (first === "ours") ? "ours" : "ref";
        const m = run(who, s, mixed, ipam);
        const p = run("ref", s, pure, ipam);
        expect(outcome(m), `step ${i} (${who}) ${s.cmd} ${s.id}: ${m.stdout}`).toBe(outcome(p));
        expect(snapshot(mixed), `store after step ${i}`).toEqual(snapshot(pure));
      });
    }
  });
});

describe.skipIf(!canRun)("host-local commands", () => {
  const ipam = (dataDir: string) => ({ dataDir, ranges: [[{ subnet: "10.60.0.0/29" }], [{ subnet: "2001:db8:60::/125" }]] });
  const exec = (cmd: Step["cmd"], dataDir: string, id = "", extra: object = {}, ifname = "eth0") =>
    execPlugin("host-local", { command: cmd, config: { cniVersion: "1.1.0", name: "hlnet", type: "bridge", ...extra, ipam: { type: "host-local", ...ipam(dataDir) } }, containerID: id, netns: "/x", ifname });

  it("DEL releases by container ID and ifname, honours legacy ID-only files, never creates the store", () => {
    const d = scope.tmpdir("hl-del-");
    expect(exec("DEL", d, "nobody").code).toBe(0);
    expect(fs.existsSync(path.join(d, "hlnet"))).toBe(false);
    expect(exec("ADD", d, "a").code).toBe(0);
    expect(exec("ADD", d, "a", {}, "net1").code).toBe(0);
    fs.writeFileSync(path.join(d, "hlnet", "10.60.0.6"), "legacy1"); // written by an old version
    expect(exec("DEL", d, "a", {}, "net1").code).toBe(0);
    expect(Object.keys(snapshot(d)).filter((f) => f.includes("::") || f.startsWith("10."))).toEqual(["10.60.0.2", "10.60.0.6", "2001:db8:60::2"]);
    expect(exec("ADD", d, "legacy1").json.msg).toMatch(/duplicate allocation/);
    expect(exec("DEL", d, "legacy1").code).toBe(0);
    expect(fs.existsSync(path.join(d, "hlnet", "10.60.0.6"))).toBe(false);
  });

  it("CHECK verifies prevResult's addresses are reserved for this very attachment", () => {
    const d = scope.tmpdir("hl-check-");
    const add = exec("ADD", d, "a");
    expect(add.code).toBe(0);
    const prev = { prevResult: add.json };
    expect(exec("CHECK", d, "a", prev).code).toBe(0);
    expect(exec("CHECK", d, "a", {}).code).toBe(0); // without prevResult: one reservation per range set
    expect(exec("CHECK", d, "a", prev, "net1").json.code).toBe(104);
    expect(exec("CHECK", d, "b", prev).json.code).toBe(104);
    // Someone else now holds the address: "something is reserved" is not enough.
    fs.writeFileSync(path.join(d, "hlnet", "10.60.0.2"), "other\r\neth0");
    const r = exec("CHECK", d, "a", prev);
    expect(r.json.code).toBe(104);
    expect(r.json.msg).toContain("10.60.0.2 is not reserved for a/eth0");
    const missing = { prevResult: { ...add.json, ips: [add.json.ips[0]] } };
    fs.writeFileSync(path.join(d, "hlnet", "10.60.0.2"), "a\r\neth0");
    expect(exec("CHECK", d, "a", missing).json.msg).toMatch(/range set 1/);
  });

  it("GC keeps valid attachments (either key), lock and last_reserved_ip.*; refuses a missing list", () => {
    const d = scope.tmpdir("hl-gc-");
    for (const id of ["a", "b", "c"]) expect(exec("ADD", d, id).code).toBe(0);
    fs.writeFileSync(path.join(d, "hlnet", "10.60.0.6"), ""); // debris
    expect(exec("GC", d, "", {}).json.code).toBe(7);
    expect(exec("GC", d, "", { "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }, { containerID: "c", ifname: "eth0" }] }).code).toBe(0);
    expect(Object.keys(snapshot(d))).toEqual(["10.60.0.2", "10.60.0.4", "2001:db8:60::2", "2001:db8:60::4", "last_reserved_ip.0", "last_reserved_ip.1", "lock"]);
    expect(exec("GC", d, "", { "cni.dev/attachments": [{ containerID: "c", ifname: "eth0" }] }).code).toBe(0);
    expect(Object.keys(snapshot(d))).toEqual(["10.60.0.4", "2001:db8:60::4", "last_reserved_ip.0", "last_reserved_ip.1", "lock"]);
  });

  it("STATUS: ready; not ready (50) when a range set is full or the store is read-only", () => {
    const d = scope.tmpdir("hl-status-");
    expect(exec("STATUS", d).code).toBe(0);
    for (const id of ["a", "b", "c", "d", "e"]) expect(exec("ADD", d, id).code).toBe(0);
    let r = exec("STATUS", d);
    expect(r.json.code).toBe(50);
    expect(r.json.msg).toMatch(/range set 0 .* no free address/);
    expect(exec("DEL", d, "c").code).toBe(0);
    expect(exec("STATUS", d).code).toBe(0);
    // Read-only: bind-mount the data dir read-only.
    const ro = scope.tmpdir("hl-ro-");
    execFile("mount", ["--bind", d, ro]);
    scope.onCleanup(() => execFile("umount", [ro]));
    execFile("mount", ["-o", "remount,bind,ro", ro]);
    r = exec("STATUS", ro);
    expect(r.json.code).toBe(50);
    expect(r.json.msg).toMatch(/not writable/);
    const file = path.join(scope.tmpdir("hl-nodir-"), "file");
    fs.writeFileSync(file, "");
    expect(exec("STATUS", path.join(file, "sub")).json.code).toBe(50);
  });

  it("keeps every write inside dataDir: bad network names, symlinked network directory", () => {
    const d = scope.tmpdir("hl-path-");
    for (const name of ["../escape", "a/b", ".hidden", ".."]) {
      const r = execPlugin("host-local", { command: "ADD", config: { cniVersion: "1.0.0", name, type: "bridge", ipam: { type: "host-local", ...ipam(d) } }, containerID: "a", netns: "/x" });
      expect(r.json?.code, name).toBe(7);
    }
    const elsewhere = scope.tmpdir("hl-elsewhere-");
    fs.symlinkSync(elsewhere, path.join(d, "hlnet"));
    const r = exec("ADD", d, "a");
    expect(r.code).toBe(1);
    expect(r.json.msg).toMatch(/symbolic links are refused/);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.readdirSync(path.dirname(d)).some((f) => f === "escape")).toBe(false);
  });
});

function execFile(cmd: string, args: string[]) {
  const r = require("node:child_process").spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

describe.skipIf(!canRun)("host-local crash safety", () => {
  const ipam = (dataDir: string) => ({ dataDir, ranges: [[{ subnet: "10.70.0.0/24" }]] });
  const exec = (cmd: Step["cmd"], dataDir: string, id: string) =>
    execPlugin("host-local", { command: cmd, config: { cniVersion: "1.0.0", name: "hlnet", type: "bridge", ipam: { type: "host-local", ...ipam(dataDir) } }, containerID: id, netns: "/x" });

  it("reuses a blank (crash-left) reservation, keeps a non-empty unknown one, and GC clears both", () => {
    const d = scope.tmpdir("hl-debris-");
    fs.mkdirSync(path.join(d, "hlnet"));
    fs.writeFileSync(path.join(d, "hlnet", "10.70.0.2"), ""); // killed between create and write
    fs.writeFileSync(path.join(d, "hlnet", "10.70.0.3"), " \r\n"); // blank
    fs.writeFileSync(path.join(d, "hlnet", "10.70.0.4"), "garbage"); // indistinguishable from a legacy ID
    expect(exec("ADD", d, "a").json.ips[0].address).toBe("10.70.0.2/24");
    expect(exec("ADD", d, "b").json.ips[0].address).toBe("10.70.0.3/24");
    expect(exec("ADD", d, "c").json.ips[0].address).toBe("10.70.0.5/24");
    expect(fs.readFileSync(path.join(d, "hlnet", "10.70.0.2"), "utf8")).toBe("a\r\neth0");
    fs.writeFileSync(path.join(d, "hlnet", "10.70.0.6"), "");
    const gc = execPlugin("host-local", { command: "GC", config: { cniVersion: "1.1.0", name: "hlnet", type: "bridge", "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }], ipam: { type: "host-local", ...ipam(d) } } });
    expect(gc.code, gc.stdout).toBe(0);
    expect(fs.readdirSync(path.join(d, "hlnet")).filter((f) => f.startsWith("10.")).sort()).toEqual(["10.70.0.2"]);
  });

  it("a temp file left hard-linked to a reservation by a crash after link() is never written through", () => {
    const d = scope.tmpdir("hl-tmp-");
    expect(exec("ADD", d, "a").code).toBe(0);
    // Killed between link(tmp, ip) and unlink(tmp): the temp name shares the reservation's inode.
    fs.linkSync(path.join(d, "hlnet", "10.70.0.2"), path.join(d, ".tscni-host-local", "hlnet.reserve.tmp"));
    expect(exec("ADD", d, "b").code).toBe(0);
    expect(fs.readFileSync(path.join(d, "hlnet", "10.70.0.2"), "utf8")).toBe("a\r\neth0");
    expect(fs.readFileSync(path.join(d, "hlnet", "10.70.0.3"), "utf8")).toBe("b\r\neth0");
    expect(fs.existsSync(path.join(d, ".tscni-host-local", "hlnet.reserve.tmp"))).toBe(false);
  });

  it("notices reservations written or removed behind its back (cache invalidation)", () => {
    const d = scope.tmpdir("hl-cache-");
    expect(exec("ADD", d, "a").json.ips[0].address).toBe("10.70.0.2/24");
    fs.writeFileSync(path.join(d, "hlnet", "10.70.0.3"), "x\r\neth0");
    expect(exec("ADD", d, "b").json.ips[0].address).toBe("10.70.0.4/24");
    fs.unlinkSync(path.join(d, "hlnet", "10.70.0.4"));
    expect(exec("ADD", d, "b").json.ips[0].address).toBe("10.70.0.5/24"); // no duplicate: b's file is gone
    expect(exec("DEL", d, "x").code).toBe(0);
    expect(fs.existsSync(path.join(d, "hlnet", "10.70.0.3"))).toBe(false);
    fs.writeFileSync(path.join(d, ".tscni-host-local", "hlnet.cache"), "{corrupt");
    expect(exec("DEL", d, "a").code).toBe(0);
    expect(fs.existsSync(path.join(d, "hlnet", "10.70.0.2"))).toBe(false);
  });

  it("SIGKILL at random points of ADD never leaves a partial reservation or a stuck lock", async () => {
    const d = scope.tmpdir("hl-kill-");
    const bin = path.join(ourBinDir(), "host-local");
    const config = JSON.stringify({ cniVersion: "1.0.0", name: "hlnet", type: "bridge", ipam: { type: "host-local", ...ipam(d) } });
    let killed = 0;
    for (let i = 0; i < 40; i++) {
      // The plugin process itself is what gets killed: no daemon (that case is daemon-faults.test.ts).
      const child = spawn(bin, [], { env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: `k${i}`, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: "/x", TSCNI_NO_DAEMON: "1" }, stdio: ["pipe", "pipe", "pipe"] });
      child.stdin.end(config);
      const delay = 20 + ((i * 37) % 200); // spread over startup, locking and writing
      const exit = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
      const timer = setTimeout(() => child.kill("SIGKILL"), delay);
      const code = await exit;
      clearTimeout(timer);
      if (code === null) killed++;
      for (const f of fs.existsSync(path.join(d, "hlnet")) ? fs.readdirSync(path.join(d, "hlnet")) : []) {
        if (!/^10\./.test(f)) continue;
        expect(fs.readFileSync(path.join(d, "hlnet", f), "utf8"), `${f} after run ${i}`).toMatch(/^k\d+\r\neth0$/);
      }
    }
    expect(killed).toBeGreaterThan(0);
    // The store still works for both plugins, and the reference agrees with what is on disk.
    const after = exec("ADD", d, "final");
    expect(after.code, after.stdout).toBe(0);
    const ref = execPlugin("host-local", { command: "ADD", config, containerID: "final-ref", netns: "/x", binDir: REFERENCE_DIR });
    expect(ref.code, ref.stdout).toBe(0);
    expect(ref.json.ips[0].address).not.toBe(after.json.ips[0].address);
  }, 120_000);
});
