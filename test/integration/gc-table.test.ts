// GC's contract, as a table, for bridge, host-local, ebpf-bandwidth and the chain of the three
// (bridge with ipMasq and macspoofchk + host-local + ebpf-bandwidth): GC without the list of
// attachments to keep, with a malformed list, with the list naming the live attachments, with a
// list naming none, and with a failure injected in each part. Each row asserts the exact state left
// in the node (masquerade rules, spoof-check chains, reservations, pins, HTB classes and programs on
// the host veths, IFB classes) and the error reported (code, message, details). Also: a pin or a
// reservation that cannot be read is never taken for absent, by GC nor by DEL.
//
// Failures are injected from outside, as they happen on a node: a tool failing (a wrapper on the
// call's PATH, where kernel/tools.ts looks first), a file that cannot be removed (a bind mount on
// it: EBUSY), a pin that cannot be opened (a bind mount over it: the kernel answers EACCES for a
// non-bpffs inode), a reservation that cannot be read (/proc/<pid>/mem bound over it: EIO), a
// directory that is not one (a symlink to /dev/null where the network's pin directory was: ENOTDIR).
// Runs in both modes (resident daemon, fallback) like every plugin-facing suite.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { addNetworkList, type Conflist } from "../../demo/chain";
import { haveTcx, queryTcx } from "../../kernel/bpf/index";
import { spoofChains, spoofKey } from "../../plugins/bridge/masq";
import { attachmentName, networkDirName } from "../../plugins/ebpf-bandwidth/names";
import { isRoot, type Netns, NsScope, uniqueName } from "../helpers/netns";
import { DIST_BIN, execPlugin, type ExecResult, ourBinDir } from "../helpers/plugin";
import { privateBpffs, tc } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && spawnSync("nft", ["--version"]).status === 0 && spawnSync("iptables-save", ["--version"]).status === 0;
const scope = new NsScope();
afterEach(() => scope.cleanup());

const MBIT = 1_000_000;
const caps = { ingressRate: 10 * MBIT, ingressBurst: 524_288, egressRate: 10 * MBIT, egressBurst: 524_288 };
const IFB = "tscni-ifb0";

interface Ctr {
  id: string;
  ns: Netns;
  veth: string;
  ip: string;
}

interface World {
  node: Netns;
  binDir: string;
  dataDir: string;
  pinRoot: string;
  list: Conflist;
  a: Ctr;
  b: Ctr;
  /** IFB classes of each attachment (read after each ADD). */
  ifbClassesOf: Record<string, string[]>;
}

/** A node with the chain and two attachments, A and B, both shaped, masqueraded and spoof-checked. */
function world(): World {
  const node = scope.netns("gcn");
  const binDir = scope.tmpdir("tscni-gcbin-");
  for (const p of ["bridge", "host-local", "ebpf-bandwidth"]) fs.symlinkSync(path.join(ourBinDir(), p), path.join(binDir, p));
  const dataDir = scope.tmpdir("tscni-gcipam-");
  const pinRoot = privateBpffs(scope);
  const list: Conflist = {
    cniVersion: "1.1.0",
    name: uniqueName("gcnet"),
    plugins: [
      { type: "bridge", bridge: "gcbr0", isGateway: true, ipMasq: true, macspoofchk: true, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.78.0.0/24" }]] } },
      { type: "ebpf-bandwidth", capabilities: { bandwidth: true }, pinRoot },
    ],
  };
  const ifbClassesOf: Record<string, string[]> = {};
  const add = (): Ctr => {
    const ns = scope.netns("gcc");
    const id = uniqueName("ctr");
    const before = ifbClasses(node);
    const result = addNetworkList({ binDir, nodeNetns: node.name }, list, { containerID: id, netns: ns.path, ifname: "eth0", capabilityArgs: { bandwidth: caps } });
    ifbClassesOf[id] = ifbClasses(node).filter((c) => !before.includes(c));
    const veth = (result.interfaces as { name: string; sandbox?: string }[]).find((i) => !i.sandbox && i.name !== "gcbr0")!.name;
    return { id, ns, veth, ip: String(result.ips[0].address).split("/")[0]! };
  };
  const a = add();
  const b = add();
  return { node, binDir, dataDir, pinRoot, list, a, b, ifbClassesOf };
}

// ---- the node's state, per attachment ---------------------------------------------------------------

function ifbClasses(node: Netns): string[] {
  const r = node.run("tc", ["class", "show", "dev", IFB], { allowFail: true });
  return [...r.stdout.matchAll(/^class htb (\S+) /gm)].map((m) => m[1]!).sort();
}

interface AttachmentState {
  /** Lines of `iptables-save -t nat` carrying the attachment's comment (its jump and its chain's rules). */
  masq: number;
  /** Its MAC spoof-check chains in `bridge nat`. */
  spoof: number;
  /** Its host-local reservations. */
  reservations: string[];
  /** Its pin directory exists. */
  pinned: boolean;
  /** HTB classes on its host veth. */
  vethClasses: number;
  /** Programs on its host veth's hooks (TCX, or clsact filters without TCX). */
  programs: number;
  /** Its classes on the IFB. */
  ifbClasses: string[];
}

interface State {
  a: AttachmentState;
  b: AttachmentState;
  /** IFB classes that are nobody's (orphans). */
  orphanIfbClasses: string[];
}

/** Our programs on the veth: cls_bpf filters on its clsact hooks (the default attach mode), and TCX programs. */
function programsOn(node: Netns, veth: string): number {
  const link = node.run("ip", ["-j", "link", "show", veth], { allowFail: true });
  if (link.status !== 0) return 0;
  const filters = ["ingress", "egress"].map((h) => tc(node, "filter", "show", "dev", veth, h).match(/ bpf .*handle /g)?.length ?? 0).reduce((x, y) => x + y, 0);
  if (!haveTcx()) return filters;
  const ifindex = Number(JSON.parse(link.stdout)[0].ifindex);
  return filters + (["ingress", "egress"] as const).map((d) => queryTcx(ifindex, d, node.path).progIds.length).reduce((x, y) => x + y, 0);
}

function state(w: World): State {
  const nat = w.node.run("iptables-save", ["-t", "nat"]).stdout.split("\n");
  const chains = w.node.run("nft", ["list", "chains", "bridge"], { allowFail: true }).stdout;
  const storeDir = path.join(w.dataDir, w.list.name);
  const files = fs.existsSync(storeDir) ? fs.readdirSync(storeDir).filter((f) => /^[0-9.]+$/.test(f)) : [];
  const owner = (f: string) => {
    try {
      return fs.readFileSync(path.join(storeDir, f), "utf8").split("\r\n")[0];
    } catch {
      return "(unreadable)";
    }
  };
  const all = ifbClasses(w.node);
  const of = (c: Ctr): AttachmentState => {
    const spoof = spoofChains(spoofKey({ network: w.list.name, containerID: c.id, ifname: "eth0" }));
    return {
      masq: nat.filter((l) => l.includes(`id: \\"${c.id}\\"`)).length,
      spoof: [spoof.iface, spoof.mac].filter((n) => new RegExp(`chain ${n} \\{`).test(chains)).length,
      reservations: files.filter((f) => owner(f) === c.id),
      pinned: fs.existsSync(path.join(w.pinRoot, networkDirName(w.list.name), attachmentName(c.id, "eth0"))),
      vethClasses: w.node.run("tc", ["class", "show", "dev", c.veth], { allowFail: true }).stdout.match(/^class htb/gm)?.length ?? 0,
      programs: programsOn(w.node, c.veth),
      ifbClasses: all.filter((x) => w.ifbClassesOf[c.id]!.includes(x)),
    };
  };
  const mine = new Set(Object.values(w.ifbClassesOf).flat());
  return { a: of(w.a), b: of(w.b), orphanIfbClasses: all.filter((c) => !mine.has(c)) };
}

/** What each plugin's GC leaves of an attachment it removed. */
const BRIDGE_GONE = { masq: 0, spoof: 0, reservations: [] };
const BANDWIDTH_GONE = { pinned: false, vethClasses: 0, programs: 0, ifbClasses: [] };

function expectLive(s: AttachmentState) {
  expect(s.masq).toBe(3); // the POSTROUTING jump, ACCEPT to the subnet, MASQUERADE
  expect(s.spoof).toBe(2);
  expect(s.reservations).toHaveLength(1);
  expect(s.pinned).toBe(true);
  expect(s.vethClasses).toBe(3); // the attachment's class + bulk and small-packet leaves
  expect(s.programs).toBe(2);
  expect(s.ifbClasses).toHaveLength(3);
}

// ---- running GC ---------------------------------------------------------------------------------

type ListKey = "absent" | "malformed" | "both" | "a" | "none";

function listOf(w: World, which: ListKey): Record<string, unknown> {
  const att = (c: Ctr) => ({ containerID: c.id, ifname: "eth0" });
  switch (which) {
    case "absent":
      return {};
    case "malformed":
      return { "cni.dev/valid-attachments": [{ containerID: w.a.id }] };
    case "both":
      return { "cni.dev/valid-attachments": [att(w.a), att(w.b)] };
    case "a":
      return { "cni.dev/valid-attachments": [att(w.a)] };
    case "none":
      return { "cni.dev/valid-attachments": [] };
  }
}

/** The GC request for plugin `i` of the list, as libcni derives it (no capabilities, the list added). */
function gcConfig(w: World, i: number, which: ListKey) {
  const { capabilities: _c, ...p } = w.list.plugins[i]!;
  return { ...p, cniVersion: w.list.cniVersion, name: w.list.name, ...listOf(w, which) };
}

/** A directory holding each of `tools` as a script that reads its input and fails, for the call's PATH. */
function failingTool(...tools: string[]): string {
  const dir = scope.tmpdir("tscni-gcwrap-");
  for (const t of tools) fs.writeFileSync(path.join(dir, t), `#!/bin/sh\ncat >/dev/null\necho "${t}: injected failure" >&2\nexit 1\n`, { mode: 0o755 });
  return dir;
}

function run(w: World, plugin: string, i: number, which: ListKey, wrap?: string): ExecResult {
  return execPlugin(plugin, {
    command: "GC", config: gcConfig(w, i, which), node: w.node, binDir: w.binDir, path: w.binDir,
    ...(wrap ? { extraEnv: { PATH: `${wrap}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}` } } : {}),
  });
}

const gcBridge = (w: World, which: ListKey, wrap?: string) => run(w, "bridge", 0, which, wrap);
const gcHostLocal = (w: World, which: ListKey) => run(w, "host-local", 0, which);
const gcBandwidth = (w: World, which: ListKey) => run(w, "ebpf-bandwidth", 1, which);
/** GC over the list as libcni runs it: every plugin, in order, going on after a failure. */
const gcChain = (w: World, which: ListKey, wrap?: string) => [gcBridge(w, which, wrap), gcBandwidth(w, which)];

const MISSING = { cniVersion: "1.1.0", code: 7, msg: 'missing "cni.dev/valid-attachments"', details: 'GC needs the list of attachments to keep (or "cni.dev/attachments"); without it nothing is removed' };
const MALFORMED = { cniVersion: "1.1.0", code: 7, msg: 'invalid "cni.dev/valid-attachments[0].ifname"', details: "missing" };

// ---- failures injected from outside -------------------------------------------------------------------

/** Bind-mount `source` over `target` until cleanup. */
function overlay(source: string, target: string): void {
  const r = spawnSync("mount", ["--bind", source, target], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount --bind ${source} ${target}: ${r.stderr}`);
  scope.onCleanup(() => void spawnSync("umount", [target]));
}

/** Undo an overlay now (the cleanup's umount then finds nothing to do). */
const removeOverlay = (target: string) => expect(spawnSync("umount", [target]).status).toBe(0);

const pinDir = (w: World, c: Ctr) => path.join(w.pinRoot, networkDirName(w.list.name), attachmentName(c.id, "eth0"));
const reservation = (w: World, c: Ctr) => path.join(w.dataDir, w.list.name, c.ip);

/** The pin `pin` of `c` cannot be opened: BPF_OBJ_GET answers EACCES for the non-bpffs inode over it. */
function unreadablePin(w: World, c: Ctr, pin: string): string {
  const p = path.join(pinDir(w, c), pin);
  overlay("/dev/null", p);
  return p;
}

/** The reservation of `c` cannot be removed: it is a mount point (EBUSY). */
const unremovableReservation = (w: World, c: Ctr) => overlay(reservation(w, c), reservation(w, c));

/** The reservation of `c` cannot be read: /proc/<pid>/mem is bound over it (a regular file; reading offset 0 is EIO). */
function unreadableReservation(w: World, c: Ctr): void {
  const sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
  scope.onCleanup(() => void sleeper.kill());
  overlay(`/proc/${sleeper.pid}/mem`, reservation(w, c));
}

describe.skipIf(!canRun)("GC table", () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: the tests drive dist/tscni");
  });

  describe("bridge (masquerade, spoof check, then GC forwarded to host-local)", () => {
    it("without the list: code 7, nothing touched", () => {
      const w = world();
      const before = state(w);
      expectLive(before.a);
      expectLive(before.b);
      const r = gcBridge(w, "absent");
      expect([r.code, r.json]).toEqual([1, MISSING]);
      expect(state(w)).toEqual(before);
    });

    it("with a malformed list: code 7, nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcBridge(w, "malformed").json).toEqual(MALFORMED);
      expect(state(w)).toEqual(before);
    });

    it("with the list naming the live attachments: nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcBridge(w, "both")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual(before);
    });

    it("with a list naming none: both attachments' masquerade rules, spoof checks and reservations go; the shaping is not bridge's", () => {
      const w = world();
      const before = state(w);
      expect(gcBridge(w, "none")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, ...BRIDGE_GONE }, b: { ...before.b, ...BRIDGE_GONE } });
    });

    it("masquerade part failing (iptables-restore): reported; the spoof check and the IPAM's GC still run", () => {
      const w = world();
      const before = state(w);
      const r = gcBridge(w, "a", failingTool("iptables-restore"));
      expect(r.json).toMatchObject({ code: 999, msg: "garbage-collect masquerade rules: iptables (IPv4): iptables-restore -w --noflush failed" });
      expect(r.json.details).toMatch(/^iptables-restore: injected failure\ninput:\n\*nat\n-D POSTROUTING /);
      expect(state(w)).toEqual({ ...before, b: { ...before.b, spoof: 0, reservations: [] } });
    });

    it("spoof-check part failing (nft): reported; masquerade cleanup and the IPAM's GC still run", () => {
      const w = world();
      const before = state(w);
      const r = gcBridge(w, "a", failingTool("nft"));
      expect(r.json).toEqual({ cniVersion: "1.1.0", code: 999, msg: "garbage-collect MAC spoof-check rules: nft list chains bridge failed", details: "nft: injected failure" });
      expect(state(w)).toEqual({ ...before, b: { ...before.b, masq: 0, reservations: [] } });
    });

    it("the IPAM's GC failing (a reservation that cannot be removed): reported with host-local's code; netfilter cleanup done", () => {
      const w = world();
      const before = state(w);
      unremovableReservation(w, w.b);
      const r = gcBridge(w, "a");
      expect(r.json).toEqual({
        cniVersion: "1.1.0", code: 5,
        msg: `IPAM plugin "host-local" GC: host-local store: cannot remove reservation ${reservation(w, w.b)}`, details: "EBUSY",
      });
      expect(state(w)).toEqual({ ...before, b: { ...before.b, masq: 0, spoof: 0 } });
    });

    it("every part failing: each is attempted and reported, the first as the error, the others in its details", () => {
      const w = world();
      const before = state(w);
      unremovableReservation(w, w.b);
      const r = gcBridge(w, "a", failingTool("iptables-restore", "nft"));
      expect(r.json).toMatchObject({ code: 999, msg: "garbage-collect masquerade rules: iptables (IPv4): iptables-restore -w --noflush failed" });
      expect(r.json.details).toContain("; garbage-collect MAC spoof-check rules: nft list chains bridge failed: nft: injected failure");
      expect(r.json.details).toMatch(new RegExp(`; IPAM plugin "host-local" GC: host-local store: cannot remove reservation ${reservation(w, w.b).replace(/\./g, "\\.")}: EBUSY$`));
      expect(state(w)).toEqual(before);
    });
  });

  describe("host-local", () => {
    it("without the list, or with a malformed one: code 7, no reservation touched", () => {
      const w = world();
      const before = state(w);
      expect(gcHostLocal(w, "absent").json).toEqual(MISSING);
      expect(gcHostLocal(w, "malformed").json).toEqual(MALFORMED);
      expect(state(w)).toEqual(before);
    });

    it("with the list naming the live attachments: nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcHostLocal(w, "both")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual(before);
    });

    it("with a list naming none: both reservations go, nothing else", () => {
      const w = world();
      const before = state(w);
      expect(gcHostLocal(w, "none")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, reservations: [] }, b: { ...before.b, reservations: [] } });
    });

    it("one reservation that cannot be removed: the other still goes; code 5 naming the file and the errno", () => {
      const w = world();
      const before = state(w);
      unremovableReservation(w, w.b);
      const r = gcHostLocal(w, "none");
      expect(r.json).toEqual({ cniVersion: "1.1.0", code: 5, msg: `host-local store: cannot remove reservation ${reservation(w, w.b)}`, details: "EBUSY" });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, reservations: [] } });
    });

    it("a reservation that cannot be read is never taken for free or gone: GC and DEL leave it and report it", () => {
      const w = world();
      unreadableReservation(w, w.b);
      const dir = path.join(w.dataDir, w.list.name);
      const del = () =>
        execPlugin("host-local", { command: "DEL", config: gcConfig(w, 0, "absent"), node: w.node, binDir: w.binDir, path: w.binDir, containerID: w.b.id, ifname: "eth0" });
      // With the index cached, DEL re-reads the file before removing it: the read fails, the file stays.
      expect(del().json).toEqual({ cniVersion: "1.1.0", code: 5, msg: `host-local store: cannot read reservation ${reservation(w, w.b)}`, details: "EIO" });
      // Without a cache (deleting it is always safe) the scan cannot read it: GC removes the other
      // reservation and reports this one; DEL reports it too (it may be this attachment's).
      fs.rmSync(path.join(w.dataDir, ".tscni-host-local"), { recursive: true, force: true });
      const unreadable = { cniVersion: "1.1.0", code: 5, msg: `host-local store: cannot read 1 reservation(s) in ${dir}; they are left in place`, details: `${w.b.ip}: EIO` };
      expect(gcHostLocal(w, "none").json).toEqual(unreadable);
      expect(fs.readdirSync(dir)).toContain(w.b.ip);
      expect(fs.readdirSync(dir)).not.toContain(w.a.ip); // the readable one went
      expect(del().json).toEqual(unreadable);
      removeOverlay(reservation(w, w.b));
      expect(fs.readFileSync(reservation(w, w.b), "utf8")).toBe(`${w.b.id}\r\neth0`);
    });
  });

  describe("ebpf-bandwidth", () => {
    it("without the list, or with a malformed one: code 7, no pin, class or program touched", () => {
      const w = world();
      const before = state(w);
      expect(gcBandwidth(w, "absent").json).toEqual(MISSING);
      expect(gcBandwidth(w, "malformed").json).toEqual(MALFORMED);
      expect(state(w)).toEqual(before);
    });

    it("with the list naming the live attachments: nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcBandwidth(w, "both")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual(before);
    });

    it("with a list naming none: both attachments' pins, classes and programs go (the IFB with them); bridge state stays", () => {
      const w = world();
      const before = state(w);
      expect(gcBandwidth(w, "none")).toMatchObject({ code: 0, stdout: "" });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, ...BANDWIDTH_GONE }, b: { ...before.b, ...BANDWIDTH_GONE } });
      expect(w.node.run("ip", ["link", "show", IFB], { allowFail: true }).status).not.toBe(0);
    });

    it("an attachment whose meta pin (its filters' record) cannot be read stays whole and is reported; the loop and the IFB class sweep go on, the sweeps that need its record are reported as not done", () => {
      const w = world();
      const before = state(w);
      // A class no attachment records, as a crash between "class" and "pin" leaves it: the sweep's work.
      tc(w.node, "class", "add", "dev", IFB, "parent", "7c2:", "classid", "7c2:9", "htb", "rate", "1mbit");
      const pin = unreadablePin(w, w.b, "map_meta");
      const r = gcBandwidth(w, "none");
      expect(r.json).toEqual({
        cniVersion: "1.1.0", code: 100,
        msg: `remove attachment ${attachmentName(w.b.id, "eth0")}: ebpf-bandwidth: cannot read the pins of ${pinDir(w, w.b)} (map_meta); the attachment is left in place`,
        details: [
          `EACCES: map_meta: open pin ${pin}: OBJ_GET: EACCES (Permission denied)`,
          ...["veth root qdiscs", "clsact filters"].map((what) => `sweep orphaned ${what} not done: what some attachments use could not be read: ${pinDir(w, w.b)}: cannot read map_meta`),
        ].join("; "),
      });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, ...BANDWIDTH_GONE }, orphanIfbClasses: [] });
    });

    it("an attachment whose cfg pin cannot be read stays whole; the IFB class sweep, which needs its class, is reported as not done", () => {
      const w = world();
      const before = state(w);
      tc(w.node, "class", "add", "dev", IFB, "parent", "7c2:", "classid", "7c2:9", "htb", "rate", "1mbit");
      const pin = unreadablePin(w, w.b, "map_cfg");
      const r = gcBandwidth(w, "none");
      expect(r.json).toEqual({
        cniVersion: "1.1.0", code: 100,
        msg: `remove attachment ${attachmentName(w.b.id, "eth0")}: ebpf-bandwidth: cannot read the pins of ${pinDir(w, w.b)} (map_cfg); the attachment is left in place`,
        details: `EACCES: map_cfg: open pin ${pin}: OBJ_GET: EACCES (Permission denied); sweep orphaned classes on ${IFB} not done: what some attachments use could not be read: ${pinDir(w, w.b)}: cannot read map_cfg`,
      });
      expect(state(w)).toEqual({ ...before, a: { ...before.a, ...BANDWIDTH_GONE }, orphanIfbClasses: ["7c2:9"] });
    });

    it("the network's directory cannot be listed (not a directory): reported, nothing of the network removed", () => {
      const w = world();
      const before = state(w);
      const netDir = path.join(w.pinRoot, networkDirName(w.list.name));
      const moved = path.join(w.pinRoot, `${networkDirName(w.list.name)}-moved`);
      fs.renameSync(netDir, moved); // still under the pin root: its attachments are still accounted for
      fs.symlinkSync("/dev/null", netDir);
      try {
        const r = gcBandwidth(w, "none");
        expect(r.json).toMatchObject({ code: 100, msg: `list ${netDir}: ENOTDIR: not a directory, scandir '${netDir}'`, details: "ENOTDIR" });
      } finally {
        fs.unlinkSync(netDir);
        fs.renameSync(moved, netDir);
      }
      expect(state(w)).toEqual(before);
    });

    it("DEL with a pin that cannot be read leaves the attachment whole and reports it; once readable, DEL removes it", () => {
      const w = world();
      const before = state(w);
      const pin = unreadablePin(w, w.b, "map_meta");
      const del = () =>
        execPlugin("ebpf-bandwidth", {
          command: "DEL", config: { ...gcConfig(w, 1, "absent"), runtimeConfig: { bandwidth: caps } }, node: w.node, binDir: w.binDir, path: w.binDir,
          containerID: w.b.id, netns: w.b.ns.path, ifname: "eth0",
        });
      expect(del().json).toEqual({
        cniVersion: "1.1.0", code: 100,
        msg: `ebpf-bandwidth: cannot read the pins of ${pinDir(w, w.b)} (map_meta); the attachment is left in place`,
        details: `EACCES: map_meta: open pin ${pin}: OBJ_GET: EACCES (Permission denied)`,
      });
      expect(state(w)).toEqual(before);
      removeOverlay(pin);
      expect(del().code).toBe(0);
      expect(state(w)).toEqual({ ...before, b: { ...before.b, ...BANDWIDTH_GONE } });
    });
  });

  describe("the chain (bridge + host-local, then ebpf-bandwidth), as libcni runs GC", () => {
    it("without the list: every plugin refuses with code 7, nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcChain(w, "absent").map((r) => r.json)).toEqual([MISSING, MISSING]);
      expect(state(w)).toEqual(before);
    });

    it("with a malformed list: every plugin refuses with code 7, nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcChain(w, "malformed").map((r) => r.json)).toEqual([MALFORMED, MALFORMED]);
      expect(state(w)).toEqual(before);
    });

    it("with the list naming the live attachments: nothing touched", () => {
      const w = world();
      const before = state(w);
      expect(gcChain(w, "both").map((r) => r.code)).toEqual([0, 0]);
      expect(state(w)).toEqual(before);
    });

    it("with a list naming one: the other's state goes, all of it", () => {
      const w = world();
      const before = state(w);
      expect(gcChain(w, "a").map((r) => r.code)).toEqual([0, 0]);
      expect(state(w)).toEqual({ ...before, b: { ...before.b, ...BRIDGE_GONE, ...BANDWIDTH_GONE } });
    });

    it("with a list naming none: everything of both goes", () => {
      const w = world();
      const before = state(w);
      expect(gcChain(w, "none").map((r) => r.code)).toEqual([0, 0]);
      expect(state(w)).toEqual({ ...before, a: { ...before.a, ...BRIDGE_GONE, ...BANDWIDTH_GONE }, b: { ...before.b, ...BRIDGE_GONE, ...BANDWIDTH_GONE } });
    });

    it("a failure in each plugin's part: each plugin reports its own, every other part is done", () => {
      const w = world();
      const before = state(w);
      unreadablePin(w, w.b, "map_meta");
      const [bridge, bandwidth] = gcChain(w, "a", failingTool("iptables-restore"));
      expect(bridge!.json).toMatchObject({ code: 999, msg: "garbage-collect masquerade rules: iptables (IPv4): iptables-restore -w --noflush failed" });
      expect(bandwidth!.json).toMatchObject({ code: 100, msg: expect.stringMatching(/^remove attachment .*: ebpf-bandwidth: cannot read the pins of .* \(map_meta\); the attachment is left in place$/) });
      expect(state(w)).toEqual({ ...before, b: { ...before.b, spoof: 0, reservations: [] } });
    });
  });
});
