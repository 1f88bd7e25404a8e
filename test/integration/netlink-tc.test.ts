// tc over rtnetlink in throwaway namespaces: clsact + cls_bpf filters that really run, htb
// qdisc/classes with counters from real traffic, tbf drops, and parity with the tc binary.
import * as fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { native } from "../../kernel/native";
import { Rtnl, isNetlinkError, parseTcHandle } from "../../kernel/netlink";
import { type Netns, NsScope } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

/** A two-instruction SCHED_CLS program returning `verdict` (0 = TC_ACT_OK, 2 = TC_ACT_SHOT). */
function loadVerdictProgram(verdict: number): number {
  const insns = Buffer.alloc(16);
  insns.writeUInt8(0xb7, 0); // r0 = imm
  insns.writeInt32LE(verdict, 4);
  insns.writeUInt8(0x95, 8); // exit
  const license = Buffer.from("GPL\0");
  const attr = Buffer.alloc(128); // union bpf_attr, BPF_PROG_LOAD part
  attr.writeUInt32LE(3, 0); // BPF_PROG_TYPE_SCHED_CLS
  attr.writeUInt32LE(2, 4);
  attr.writeBigUInt64LE(native().addressOf(insns), 8);
  attr.writeBigUInt64LE(native().addressOf(license), 16);
  attr.write("tscni_test", 48);
  const fd = native().bpf(5 /* BPF_PROG_LOAD */, attr);
  scope.onCleanup(() => fs.closeSync(fd));
  return fd;
}

function open(ns: Netns): Rtnl {
  const nl = Rtnl.open(ns.path);
  scope.onCleanup(() => nl.close());
  return nl;
}

/** a:va 10.1.0.1/24 <-> b:vb 10.1.0.2/24 */
function pair() {
  const a = scope.netns("ta");
  const b = scope.netns("tb");
  const na = open(a);
  na.addVeth({ name: "va", peer: { name: "vb", netns: b.path } });
  na.setUp("va");
  na.addAddr("va", "10.1.0.1/24");
  const nb = open(b);
  nb.setUp("vb");
  nb.addAddr("vb", "10.1.0.2/24");
  return { a, b, na, nb };
}

const ping = (ns: Netns, ...args: string[]) => ns.run("ping", ["-W1", ...args, "10.1.0.2"], { allowFail: true }).status === 0;

describe("clsact and cls_bpf", () => {
  it("attaches direct-action programs on ingress/egress, lists, replaces and deletes them", () => {
    const { a, b, nb } = pair();
    nb.addQdisc("vb", { kind: "clsact" });
    expect(nb.listQdiscs("vb").find((q) => q.kind === "clsact")).toMatchObject({ handle: 0xffff0000, parent: 0xfffffff1 });

    const drop = loadVerdictProgram(2);
    const pass = loadVerdictProgram(0);
    expect(ping(a, "-c1")).toBe(true);
    nb.addBpfFilter("vb", { parent: "ingress", fd: drop, name: "drop_all", priority: 10 });
    nb.addBpfFilter("vb", { parent: "egress", fd: pass, name: "pass_all", priority: 20, handle: 3 });
    expect(ping(a, "-c1")).toBe(false); // the program really runs

    const ingress = nb.listFilters("vb", "ingress");
    expect(ingress).toEqual([expect.objectContaining({ kind: "bpf", priority: 10, handle: 1, protocol: 3, bpf: expect.objectContaining({ name: "drop_all", directAction: true }) })]);
    expect(ingress[0].bpf?.id).toBeGreaterThan(0);
    expect(ingress[0].bpf?.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(nb.listFilters("vb", "egress")).toEqual([expect.objectContaining({ priority: 20, handle: 3, bpf: expect.objectContaining({ name: "pass_all" }) })]);
    expect(b.run("tc", ["filter", "show", "dev", "vb", "ingress"]).stdout).toMatch(/pref 10 bpf chain 0 handle 0x1 drop_all direct-action/);

    const dup = (() => { try { nb.addBpfFilter("vb", { parent: "ingress", fd: drop, priority: 10 }); } catch (e) { return e; } })();
    expect(isNetlinkError(dup, "EEXIST")).toBe(true);

    nb.replaceBpfFilter("vb", { parent: "ingress", fd: pass, name: "now_pass", priority: 10 });
    expect(nb.listFilters("vb", "ingress")[0].bpf?.name).toBe("now_pass");
    expect(ping(a, "-c1")).toBe(true);

    nb.deleteFilter("vb", { parent: "ingress", priority: 10, handle: 1 });
    expect(nb.listFilters("vb", "ingress")).toEqual([]);
    nb.deleteFilter("vb", { parent: "egress" }); // every filter at that parent
    expect(nb.listFilters("vb", "egress")).toEqual([]);

    nb.deleteQdisc("vb", "clsact");
    expect(nb.listQdiscs("vb").some((q) => q.kind === "clsact")).toBe(false);
  });

  it("reports EEXIST with extack for a second clsact and ENODEV for a missing device", () => {
    const { na } = pair();
    na.addQdisc("va", { kind: "clsact" });
    try {
      na.addQdisc("va", { kind: "clsact" });
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "EEXIST", op: "RTM_NEWQDISC", extack: expect.stringMatching(/Exclusivity flag on/) });
    }
    na.replaceQdisc("va", { kind: "clsact" }); // replace is idempotent
    expect(() => na.addQdisc(99999, { kind: "clsact" })).toThrow(expect.objectContaining({ code: "ENODEV" }));
    // ingress and clsact share one slot on the device.
    expect(() => na.addQdisc("va", { kind: "ingress" })).toThrow(expect.objectContaining({ code: "EEXIST" }));
    na.deleteQdisc("va", "clsact");
    na.addQdisc("va", { kind: "ingress" });
    expect(na.listQdiscs("va").find((q) => q.kind === "ingress")).toMatchObject({ handle: 0xffff0000, parent: 0xfffffff1 });
  });
});

describe("htb and tbf", () => {
  it("builds an htb tree, counts real traffic per class and deletes it", () => {
    const { a, na } = pair();
    na.addQdisc("va", { kind: "htb", handle: "1:", defaultClass: 0x10 });
    na.addHtbClass("va", { classid: "1:1", parent: "1:", rate: 100e6 });
    na.addHtbClass("va", { classid: "1:10", parent: "1:1", rate: 10e6, ceil: 100e6, burst: 64 * 1024, prio: 1 });
    na.addHtbClass("va", { classid: "1:20", parent: "1:1", rate: 40e9 }); // > 32-bit bytes/s: RATE64

    const htb = na.listQdiscs("va").find((q) => q.kind === "htb");
    expect(htb).toMatchObject({ handle: parseTcHandle("1:"), parent: 0xffffffff, htb: { defaultClass: 0x10, r2q: 10 } });

    expect(ping(a, "-c5", "-i0.05")).toBe(true);
    const classes = na.listClasses("va");
    const c10 = classes.find((c) => c.handle === parseTcHandle("1:10"));
    expect(c10).toMatchObject({ kind: "htb", parent: parseTcHandle("1:1"), htb: { rate: 10e6, ceil: 100e6, prio: 1, level: 0 } });
    expect(Math.abs(c10!.htb!.burst - 65536)).toBeLessThanOrEqual(8);
    expect(c10!.stats!.packets).toBeGreaterThanOrEqual(5);
    expect(c10!.stats!.bytes).toBeGreaterThanOrEqual(5 * 98);
    expect(classes.find((c) => c.handle === parseTcHandle("1:20"))?.htb?.rate).toBe(40e9);
    expect(a.run("tc", ["class", "show", "dev", "va", "classid", "1:20"]).stdout).toMatch(/rate 40Gbit/);
    expect(na.listClasses("va", "1:1").map((c) => c.handle).sort()).toEqual([parseTcHandle("1:10"), parseTcHandle("1:20")]);
    const qstats = na.listQdiscs("va").find((q) => q.kind === "htb")!.stats!;
    expect(qstats.packets).toBeGreaterThanOrEqual(5);

    na.replaceQdisc("va", { kind: "bfifo", parent: "1:10", limit: 20_000 }); // short leaf queue
    expect(na.listQdiscs("va").find((q) => q.kind === "bfifo")).toMatchObject({ parent: parseTcHandle("1:10"), fifo: { limit: 20_000 } });

    na.replaceHtbClass("va", { classid: "1:10", parent: "1:1", rate: 20e6 });
    expect(na.listClasses("va").find((c) => c.handle === parseTcHandle("1:10"))?.htb).toMatchObject({ rate: 20e6, ceil: 20e6 });

    try {
      na.deleteClass("va", "1:1");
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "EBUSY", extack: expect.stringMatching(/in use/) });
    }
    na.deleteClass("va", "1:10");
    na.deleteClass("va", "1:20");
    na.deleteClass("va", "1:1");
    expect(na.listClasses("va")).toEqual([]);
    expect(() => na.deleteClass("va", "1:10")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    na.deleteQdisc("va", { handle: "1:" });
    expect(na.listQdiscs("va").some((q) => q.kind === "htb")).toBe(false);
  });

  it("encodes htb classes exactly like the tc binary", () => {
    const { a, na } = pair();
    na.addQdisc("va", { kind: "htb", handle: "1:" });
    a.run("tc", ["class", "add", "dev", "va", "parent", "1:", "classid", "1:1", "htb", "rate", "25mbit", "ceil", "50mbit", "burst", "32k", "cburst", "15k", "prio", "3"]);
    na.addHtbClass("va", { classid: "1:2", parent: "1:", rate: 25e6, ceil: 50e6, burst: 32 * 1024, cburst: 15 * 1024, prio: 3 });
    a.run("tc", ["class", "add", "dev", "va", "parent", "1:", "classid", "1:3", "htb", "rate", "7mbit"]);
    na.addHtbClass("va", { classid: "1:4", parent: "1:", rate: 7e6 });
    const by = (h: string) => na.listClasses("va").find((c) => c.handle === parseTcHandle(h))!.htb;
    expect(by("1:2")).toEqual(by("1:1"));
    expect(by("1:4")).toEqual(by("1:3"));
  });

  it("shapes with tbf and counts drops", () => {
    const { a, na } = pair();
    na.addQdisc("va", { kind: "tbf", rate: 1e6, burst: 2000, limit: 3000 });
    const q = na.listQdiscs("va").find((x) => x.kind === "tbf")!;
    expect(q.tbf).toEqual({ rate: 1e6, burst: 2000, limit: 3000 });
    expect(a.run("tc", ["qdisc", "show", "dev", "va"]).stdout).toMatch(/tbf .* rate 1Mbit burst 2000b/);
    // 50 preloaded 1.4 kB echo requests overflow a 3000-byte queue at 1 Mbit/s.
    a.run("ping", ["-c", "60", "-l", "50", "-s", "1400", "-w", "2", "-q", "10.1.0.2"], { allowFail: true });
    const s = na.listQdiscs("va").find((x) => x.kind === "tbf")!.stats!;
    expect(s.packets).toBeGreaterThan(0);
    expect(s.drops).toBeGreaterThan(0);
    na.replaceQdisc("va", { kind: "tbf", rate: 100e6, burst: 64 * 1024, latencyMs: 5 });
    expect(na.listQdiscs("va").find((x) => x.kind === "tbf")?.tbf).toEqual({ rate: 100e6, burst: 65536, limit: 62500 + 65536 });
    na.deleteQdisc("va");
    expect(na.listQdiscs("va").some((x) => x.kind === "tbf")).toBe(false);
  });
});
