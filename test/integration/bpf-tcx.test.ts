// TCX attachment in throwaway namespaces, through the path ebpf-bandwidth ships (hooks.ts
// attachHooks, attach.ts addAttachment/teardown): traffic is counted, other TCX programs still see
// it, pinned links survive the loader and are removed from a fresh process, teardown works when the
// device is already gone, and a failure at any step of an attach leaves nothing behind. Pins live
// under a unique /sys/fs/bpf/tscni-test-* removed in cleanup.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { LinkType } from "../../kernel/bpf/constants";
import { BpfLink } from "../../kernel/bpf/handles";
import { loadCollection } from "../../kernel/bpf/loader";
import { objectSpec } from "../../kernel/bpf/objects";
import { makePinDir, pinName } from "../../kernel/bpf/pin";
import { MIN_KERNEL, haveTcx, kernelAtLeast } from "../../kernel/bpf/probe";
import { DIR_KEY, readShapingStats, sumShapeStats } from "../../kernel/bpf/shaping";
import { attachTcx, queryTcx } from "../../kernel/bpf/tcx";
import { Rtnl, rootQdisc, tcHandle } from "../../kernel/netlink/index";
import { withNetns } from "../../kernel/netns";
import { addAttachment, teardown } from "../../plugins/ebpf-bandwidth/attach";
import { parseConfig } from "../../plugins/ebpf-bandwidth/config";
import { type AttachMode, type AttachOptions, attachHooks } from "../../plugins/ebpf-bandwidth/hooks";
import { attachmentPath, networkPath } from "../../plugins/ebpf-bandwidth/names";
import { allocateMinor, removeIdleIfb } from "../../plugins/ebpf-bandwidth/ifb";
import { LEAF_STRIDE, hashMinor, parentMinor } from "../../plugins/ebpf-bandwidth/plan";
import { RTM } from "../../kernel/netlink/constants";
import { type Netns, NsScope, isRoot, uniqueName } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

const repo = path.resolve(__dirname, "../..");
const tcx = isRoot() && haveTcx();

beforeAll(() => {
  // Skip where TCX is absent; fail where the kernel is new enough that it must be there.
  if (isRoot() && !tcx && kernelAtLeast(MIN_KERNEL.tcx)) throw new Error("kernel >= 6.6 but the TCX probe failed");
});

interface Pair {
  a: Netns;
  b: Netns;
  /** ifindex of "a0" inside namespace a. */
  ifindex: number;
}

/** Two namespaces joined by a veth: a0 (10.99.0.1) in a, b0 (10.99.0.2) in b. */
function vethPair(): Pair {
  const a = scope.netns("ba");
  const b = scope.netns("bb");
  a.ip("link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", b.name);
  a.ip("addr", "add", "10.99.0.1/24", "dev", "a0");
  b.ip("addr", "add", "10.99.0.2/24", "dev", "b0");
  a.ip("link", "set", "a0", "up");
  b.ip("link", "set", "b0", "up");
  const ifindex = (JSON.parse(a.ip("-j", "link", "show", "a0")) as { ifindex: number }[])[0]!.ifindex;
  return { a, b, ifindex };
}

const ping = (from: Netns, to: string, count = 3) =>
  from.run("ping", ["-c", String(count), "-i", "0.05", "-W", "1", "-q", to]);

function pinRoot(): string {
  const root = scope.track(`/sys/fs/bpf/${uniqueName("tscni-test-")}`);
  return makePinDir(root);
}

/** attachHooks as ebpf-bandwidth runs it, with the thread inside `ns` (where `ifindex` is). */
const attachIn = (ns: Netns, o: AttachOptions) => withNetns(ns.path, () => attachHooks(o));

/** The plugin's teardown of one attachment directory, in `ns`. */
const teardownIn = (ns: Netns, dir: string, ifb = "none") => withNetns(ns.path, () => Rtnl.with(undefined, (nl) => teardown(nl, dir, ifb)));

/** Run TypeScript in a fresh node process (no shared fds): proves pins are the only link. */
function freshProcess(code: string): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Every step an attach goes through, in order, recorded from a run that succeeds. */
function stepsOf(run: (beforeStep: (s: string) => void) => void): string[] {
  const steps: string[] = [];
  run((s) => void steps.push(s));
  return steps;
}

class Injected extends Error {}

/** A beforeStep hook failing at `step`. */
const failAt = (step: string) => (s: string) => {
  if (s === step) throw new Injected(`injected at ${step}`);
};

describe.skipIf(!tcx)("TCX", () => {
  it("counts ping traffic in both directions and lets a second TCX program see it too", () => {
    const { a, b, ifindex } = vethPair();
    const first = loadCollection(objectSpec("classify"));
    const second = loadCollection(objectSpec("classify"));
    const links: BpfLink[] = [];
    try {
      for (const c of [first, second]) {
        links.push(attachTcx(c.program("classify_egress"), { ifindex, direction: "egress", netns: a.path }));
        links.push(attachTcx(c.program("classify_ingress"), { ifindex, direction: "ingress", netns: a.path }));
      }
      const q = queryTcx(ifindex, "egress", a.path);
      expect(q.progIds).toEqual([first.program("classify_egress").info().id, second.program("classify_egress").info().id]);
      expect(q.linkIds).toEqual([links[0]!.info().id, links[2]!.info().id]);
      const li = links[0]!.info();
      expect(li).toMatchObject({ type: LinkType.TCX, ifindex, attachType: 47 });

      ping(a, "10.99.0.2", 3);
      ping(b, "10.99.0.1", 2);
      for (const c of [first, second]) {
        const eg = sumShapeStats(c.map("stats").lookupPerCpu(DIR_KEY.egress)!);
        const ing = sumShapeStats(c.map("stats").lookupPerCpu(DIR_KEY.ingress)!);
        // 3 requests out + 2 replies out (plus possibly ARP) / the same in.
        expect(eg.packets).toBeGreaterThanOrEqual(5n);
        expect(ing.packets).toBeGreaterThanOrEqual(5n);
        expect(eg.bytes).toBeGreaterThanOrEqual(5n * 98n); // 98-byte ICMP echo frames
      }
    } finally {
      for (const l of links) l.close();
      first.close();
      second.close();
    }
    // Closing the only references detached everything.
    expect(queryTcx(ifindex, "egress", a.path).progIds).toEqual([]);
  });

  it("keeps shaping after the loader exits; a fresh process reads the pins and tears the attachment down", () => {
    const { a, ifindex } = vethPair();
    const dir = makePinDir(pinRoot(), "ctr1-eth0");
    attachIn(a, { mode: "tcx", programs: { ingress: "police", egress: "police" }, config: { egress: { rate: 0n }, ingress: { rate: 0n } }, ifindex, dir });
    expect(fs.readdirSync(dir).sort()).toEqual(
      [pinName.link("egress"), pinName.link("ingress"), pinName.map("cfg"), pinName.map("meta"), pinName.map("state"), pinName.map("stats")].sort(),
    );
    // Nothing held open in this process, and still attached.
    const linkId = (d: "ingress" | "egress") => {
      const l = BpfLink.fromPin(path.join(dir, pinName.link(d)));
      try {
        return l.info().id;
      } finally {
        l.close();
      }
    };
    expect(queryTcx(ifindex, "egress", a.path).linkIds).toEqual([linkId("egress")]);
    expect(queryTcx(ifindex, "ingress", a.path).linkIds).toEqual([linkId("ingress")]);
    ping(a, "10.99.0.2", 2);
    expect(readShapingStats(dir).egress.packets).toBeGreaterThanOrEqual(2n);

    const out = freshProcess(`
      import { readShapingStats } from "./kernel/bpf/shaping.ts";
      import { Rtnl } from "./kernel/netlink/index.ts";
      import { withNetns } from "./kernel/netns.ts";
      import { teardown } from "./plugins/ebpf-bandwidth/attach.ts";
      const s = readShapingStats(${JSON.stringify(dir)});
      withNetns(${JSON.stringify(a.path)}, () => Rtnl.with(undefined, (nl) => teardown(nl, ${JSON.stringify(dir)}, "none")));
      console.log(JSON.stringify({ pkts: String(s.egress.packets) }));
    `);
    expect(BigInt((JSON.parse(out.trim()) as { pkts: string }).pkts)).toBeGreaterThanOrEqual(2n);
    expect(fs.existsSync(dir)).toBe(false);
    expect(queryTcx(ifindex, "egress", a.path).progIds).toEqual([]);
    expect(queryTcx(ifindex, "ingress", a.path).progIds).toEqual([]);
  });

  it("tears down when the device was deleted first, and again without error", () => {
    const { a, ifindex } = vethPair();
    const dir = makePinDir(pinRoot(), "gone");
    attachIn(a, { mode: "tcx", programs: { egress: "classify" }, config: { egress: {} }, ifindex, dir });
    a.ip("link", "del", "a0");
    // The link outlives its device as a pin (ARCHITECTURE.md, state): teardown must still clean up.
    const l = BpfLink.fromPin(path.join(dir, pinName.link("egress")));
    expect(l.info().ifindex).toBe(0);
    l.close();
    teardownIn(a, dir);
    expect(fs.existsSync(dir)).toBe(false);
    teardownIn(a, dir);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("steers packets into the HTB class named by skb->priority, without any tc filter", () => {
    const { a, ifindex } = vethPair();
    // default 0: unclassified packets bypass the classes, so a count on 1:10 proves the steering.
    a.run("tc", ["qdisc", "add", "dev", "a0", "root", "handle", "1:", "htb", "default", "0"]);
    a.run("tc", ["class", "add", "dev", "a0", "parent", "1:", "classid", "1:10", "htb", "rate", "10mbit"]);
    const dir = makePinDir(pinRoot(), "htb");
    attachIn(a, { mode: "tcx", programs: { egress: "classify" }, config: { egress: { classid: tcHandle(1, 0x10) } }, ifindex, dir });
    ping(a, "10.99.0.2", 3);
    // This tc has no JSON output for classes: read "Sent <bytes> bytes <pkts> pkt".
    const show = a.run("tc", ["-s", "class", "show", "dev", "a0", "classid", "1:10"]).stdout;
    expect(Number(/Sent \d+ bytes (\d+) pkt/.exec(show)?.[1])).toBeGreaterThanOrEqual(3);
    teardownIn(a, dir);
    expect(queryTcx(ifindex, "egress", a.path).progIds).toEqual([]);
  });

  it("redirects ingress to a shared IFB whose HTB class is picked by skb->priority (container egress)", () => {
    const { a, b, ifindex } = vethPair();
    a.ip("link", "add", "ifb0", "type", "ifb");
    a.ip("link", "set", "ifb0", "up");
    a.run("tc", ["qdisc", "add", "dev", "ifb0", "root", "handle", "1:", "htb", "default", "0"]);
    a.run("tc", ["class", "add", "dev", "ifb0", "parent", "1:", "classid", "1:20", "htb", "rate", "10mbit"]);
    const ifb = (JSON.parse(a.ip("-j", "link", "show", "ifb0")) as { ifindex: number }[])[0]!.ifindex;
    const dir = makePinDir(pinRoot(), "ifb");
    attachIn(a, { mode: "tcx", programs: { ingress: "classify" }, config: { ingress: { classid: tcHandle(1, 0x20), redirectIfindex: ifb } }, ifindex, dir });
    ping(b, "10.99.0.1", 3); // replies prove the IFB hands packets back to a0's ingress
    const show = a.run("tc", ["-s", "class", "show", "dev", "ifb0", "classid", "1:20"]).stdout;
    expect(Number(/Sent \d+ bytes (\d+) pkt/.exec(show)?.[1])).toBeGreaterThanOrEqual(3);
    teardownIn(a, dir);
    expect(queryTcx(ifindex, "ingress", a.path).progIds).toEqual([]);
  });
});

/** What is on a0's hooks: TCX programs per direction, and the clsact qdisc and its filters. */
function hooksOf(a: Netns, ifindex: number) {
  return withNetns(a.path, () =>
    Rtnl.with(undefined, (nl) => {
      const clsact = nl.listQdiscs(ifindex).some((q) => q.kind === "clsact");
      return {
        tcx: tcx ? { ingress: queryTcx(ifindex, "ingress").progIds, egress: queryTcx(ifindex, "egress").progIds } : undefined,
        clsact,
        filters: clsact ? [...nl.listFilters(ifindex, "ingress"), ...nl.listFilters(ifindex, "egress")].length : 0,
      };
    }),
  );
}

const modes: AttachMode[] = tcx ? ["tcx", "clsact"] : ["clsact"];

describe.skipIf(!isRoot())("attach failures leave nothing behind", () => {
  it.each(modes)("attachHooks (%s): a failure at each step undoes the steps before it", (mode) => {
    const { a, ifindex } = vethPair();
    const dir = makePinDir(pinRoot(), "net", "fail");
    const clean = hooksOf(a, ifindex);
    const o: AttachOptions = {
      mode, programs: { ingress: "classify", egress: "classify" }, config: { ingress: { classid: tcHandle(1, 0x20) }, egress: { classid: tcHandle(1, 0x10) } }, ifindex, dir,
    };
    const steps = stepsOf((beforeStep) => attachIn(a, { ...o, beforeStep }));
    const pins = mode === "tcx" ? ["pin link_ingress", "pin link_egress"] : [];
    expect(steps).toEqual(["load", "configure", "pin map_cfg", "pin map_stats", "pin map_state", "attach ingress", ...pins.slice(0, 1), "attach egress", ...pins.slice(1), "pin map_meta"]);
    teardownIn(a, dir);
    expect(hooksOf(a, ifindex)).toEqual(clean);
    fs.mkdirSync(dir, { recursive: true });
    for (const step of steps) {
      expect(() => attachIn(a, { ...o, beforeStep: failAt(step) }), step).toThrow(Injected);
      expect([step, fs.readdirSync(dir)]).toEqual([step, []]);
      expect([step, hooksOf(a, ifindex)]).toEqual([step, clean]);
    }
  });

  it.each(modes)("addAttachment (%s): a failure at each step of an ADD removes the pins, qdiscs, classes and the IFB it made; DEL leaves the IFB idle", (attach) => {
    const { a, ifindex } = vethPair();
    const root = pinRoot();
    const ifbName = uniqueName("tifb");
    const cfg = parseConfig({ ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 20_000_000, egressBurst: 1_000_000, pinRoot: root, ifbDevice: ifbName }, {}, "net-x");
    const dir = attachmentPath(root, cfg.network, "ctr-x", "eth0");
    const host = { index: ifindex, name: "a0", mtu: 1500 };
    const inA = <T>(fn: (nl: Rtnl) => T) => withNetns(a.path, () => Rtnl.with(undefined, fn));
    const state = () =>
      inA((nl) => ({
        pins: fs.existsSync(networkPath(root, cfg.network)),
        root: rootQdisc(nl.listQdiscs(ifindex), ifindex)?.handle ?? 0,
        ifb: nl.findLink(ifbName) !== undefined,
      }));
    const clean = { pins: false, root: 0, ifb: false };
    const hooks = hooksOf(a, ifindex);
    expect(state()).toEqual(clean);
    const steps = stepsOf((beforeStep) => inA((nl) => addAttachment(nl, cfg, "htb", attach, host, dir, beforeStep)));
    // map_cfg (which records the IFB class) is pinned before the class is made.
    expect(steps.slice(0, 11)).toEqual([
      "make the pin directory", "set up the IFB", "choose the IFB class", "load", "configure", "pin map_cfg", "pin map_stats", "pin map_state",
      "set the IFB class", "set the veth's HTB root", "set the veth class",
    ]);
    expect(steps.at(-1)).toBe("pin map_meta");
    expect(state()).toEqual({ pins: true, root: tcHandle(0x7c1, 0), ifb: true });
    inA((nl) => teardown(nl, dir, ifbName));
    expect(state()).toEqual({ ...clean, ifb: true }); // DEL leaves the idle IFB for the next pod
    inA((nl) => removeIdleIfb(nl, ifbName)); // as GC does
    expect(state()).toEqual(clean);
    for (const step of steps) {
      expect(() => inA((nl) => addAttachment(nl, cfg, "htb", attach, host, dir, failAt(step))), step).toThrow(Injected);
      expect([step, state()]).toEqual([step, clean]);
      expect([step, hooksOf(a, ifindex)]).toEqual([step, hooks]);
    }
  });
});

describe.skipIf(!isRoot())("ADD and DEL ask for what they need instead of dumping the node's tc state", () => {
  // The kernel dumps every qdisc of every device in the namespace (it does not filter by device):
  // with 100 shaped pods that is ≈ 600 qdiscs per dump, and ADD took three dumps (22 ms in-process
  // instead of 4). ADD now makes no dump at all, DEL only the per-device filter listings.
  it.each(modes)("with other attachments on the node, addAttachment makes no dump and teardown none of qdiscs or classes (%s)", (attach) => {
    const { a, ifindex } = vethPair();
    const root = pinRoot();
    const ifbName = uniqueName("tifb");
    const cfg = parseConfig({ ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 20_000_000, egressBurst: 1_000_000, pinRoot: root, ifbDevice: ifbName }, {}, "net-d");
    const inA = <T>(fn: (nl: Rtnl) => T) => withNetns(a.path, () => Rtnl.with(undefined, fn));
    // Three other pods' attachments, on veths of their own in the same node namespace.
    const others = [1, 2, 3].map((i) => {
      a.ip("link", "add", `o${i}`, "type", "veth", "peer", "name", `p${i}`);
      a.ip("link", "set", `o${i}`, "up");
      a.ip("link", "set", `p${i}`, "up");
      const index = (JSON.parse(a.ip("-j", "link", "show", `o${i}`)) as { ifindex: number }[])[0]!.ifindex;
      const dir = attachmentPath(root, cfg.network, `other-${i}`, "eth0");
      return inA((nl) => addAttachment(nl, cfg, "htb", attach, { index, name: `o${i}`, mtu: 1500 }, dir));
    });
    const dir = attachmentPath(root, cfg.network, "ctr-d", "eth0");
    /** The dumps (message types) `fn` asks the kernel for. */
    const dumpsOf = (fn: (nl: Rtnl) => void) =>
      inA((nl) => {
        const types: number[] = [];
        const dump = nl.socket.dump.bind(nl.socket);
        nl.socket.dump = (req) => {
          types.push(req.type);
          return dump(req);
        };
        fn(nl);
        return types;
      });
    let minor = 0;
    expect(dumpsOf((nl) => void (minor = addAttachment(nl, cfg, "htb", attach, { index: ifindex, name: "a0", mtu: 1500 }, dir).plan.ifb!.minor))).toEqual([]);
    // A class of its own, next to the others' (each one's minor is probed, not read from a dump).
    expect(others.map((o) => o.plan.ifb!.minor)).not.toContain(minor);
    expect(a.run("tc", ["class", "show", "dev", ifbName]).stdout.split("\n").filter(Boolean)).toHaveLength(4 * 3);
    const delDumps = dumpsOf((nl) => teardown(nl, dir, ifbName));
    expect(delDumps.filter((t) => t === RTM.GETQDISC || t === RTM.GETTCLASS)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect(a.run("tc", ["class", "show", "dev", ifbName]).stdout.split("\n").filter(Boolean)).toHaveLength(3 * 3);
    expect(inA((nl) => rootQdisc(nl.listQdiscs(ifindex), ifindex)?.handle ?? 0)).toBe(0);
    for (const o of others) inA((nl) => teardown(nl, o.dir, ifbName));
    inA((nl) => removeIdleIfb(nl, ifbName));
  });

  it("a class minor whose leaf minors are taken (an earlier build's layout) is not chosen", () => {
    const { a } = vethPair();
    a.ip("link", "add", "tifb0", "type", "ifb");
    a.ip("link", "set", "tifb0", "up");
    a.run("tc", ["qdisc", "add", "dev", "tifb0", "root", "handle", "7c2:", "htb"]);
    const key = "ctr-leaf-eth0";
    const h = parentMinor(hashMinor(key));
    a.run("tc", ["class", "add", "dev", "tifb0", "parent", "7c2:", "classid", `7c2:${(h + LEAF_STRIDE).toString(16)}`, "htb", "rate", "1mbit"]);
    const ifb = (JSON.parse(a.ip("-j", "link", "show", "tifb0")) as { ifindex: number }[])[0]!.ifindex;
    const next = h === LEAF_STRIDE ? 1 : h + 1;
    expect(withNetns(a.path, () => Rtnl.with(undefined, (nl) => allocateMinor(nl, ifb, key)))).toBe(next);
    a.run("tc", ["class", "del", "dev", "tifb0", "classid", `7c2:${(h + LEAF_STRIDE).toString(16)}`]);
    expect(withNetns(a.path, () => Rtnl.with(undefined, (nl) => allocateMinor(nl, ifb, key)))).toBe(h);
  });
});
