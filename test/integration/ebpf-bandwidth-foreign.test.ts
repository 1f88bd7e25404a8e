// ebpf-bandwidth next to another tool's tc state (issue #11): a root qdisc on the host veth or an
// ifbDevice that is not ours is never replaced or deleted. ADD refuses with code 105 and changes
// nothing; an IFB we did not create but whose root is the kernel's default is shared (our root and
// classes only, removed again by DEL and GC, the device kept); the IFB we create carries our alias
// mark, and an unmarked IFB with our own HTB root (an earlier build's) is adopted. All in a
// throwaway node namespace; no traffic, so these run in seconds.
import * as fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { queryTcx } from "../../kernel/bpf/index";
import { NsScope, isRoot, uniqueName } from "../helpers/netns";
import { DIST_BIN, haveReference } from "../helpers/plugin";
import { type Topo, hostVeth, linksOf, pinsUnder, tc, topology, runBandwidth as run } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && haveReference("bridge");
const scope = new NsScope();
afterEach(() => scope.cleanup());

const MARK = "tscni ebpf-bandwidth";
const caps = { ingressRate: 10_000_000, ingressBurst: 524_288, egressRate: 10_000_000, egressBurst: 524_288 };
const egressOnly = { egressRate: 10_000_000, egressBurst: 524_288 };

const add = (t: Topo, i: number, limits: Record<string, unknown>) => run(t, "ADD", { ...limits, prevResult: t.ctrs[i]!.result }, i);
const del = (t: Topo, i: number, limits: Record<string, unknown>) => run(t, "DEL", { ...limits, prevResult: t.ctrs[i]!.result }, i);

/** Every qdisc of a device as "kind handle parent" (tc's own view, not our decoder's). */
function qdiscs(t: Topo, dev: string): string[] {
  const j = JSON.parse(tc(t.node, "-j", "qdisc", "show", "dev", dev)) as { kind: string; handle: string; root?: boolean; parent?: string }[];
  return j.map((q) => `${q.kind} ${q.handle} ${q.root ? "root" : q.parent}`);
}
/** Class ids of a device, sorted. */
const classes = (t: Topo, dev: string) => [...tc(t.node, "class", "show", "dev", dev).matchAll(/^class \S+ (\S+)/gm)].map((m) => m[1]!).sort();
const alias = (t: Topo, dev: string) => (JSON.parse(t.node.ip("-j", "link", "show", dev)) as { ifalias?: string }[])[0]!.ifalias;
const ifindexOf = (t: Topo, dev: string) => Number(JSON.parse(t.node.ip("-j", "link", "show", dev))[0].ifindex);

/** Another tool's IFB: created down, optionally up and with an HTB root 1: and class 1:10. */
function foreignIfb(t: Topo, o: { up: boolean; htb?: string }): string {
  const name = uniqueName("fifb");
  t.node.ip("link", "add", name, "type", "ifb");
  if (o.up) t.node.ip("link", "set", name, "up");
  if (o.htb) {
    tc(t.node, "qdisc", "add", "dev", name, "root", "handle", o.htb, "htb");
    if (o.htb === "1:") tc(t.node, "class", "add", "dev", name, "parent", "1:", "classid", "1:10", "htb", "rate", "1mbit");
  }
  return name;
}

/** No pin or pin directory, no TCX program on the veth, no qdisc with one of our handles, no tscni-ifb0. */
function expectNothingOfOurs(t: Topo, veth: string) {
  expect(pinsUnder(t.pinRoot)).toEqual([]);
  expect(queryTcx(ifindexOf(t, veth), "ingress", t.node.path).linkIds).toEqual([]);
  expect(queryTcx(ifindexOf(t, veth), "egress", t.node.path).linkIds).toEqual([]);
  expect(tc(t.node, "qdisc", "show")).not.toMatch(/ 7c[12]: /);
  expect(linksOf(t.node)).not.toContain("tscni-ifb0");
}

describe.skipIf(!canRun)("ebpf-bandwidth and other tools' tc state", () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: the tests drive dist/tscni");
  });

  it("refuses a host veth whose root qdisc is another tool's (code 105, nothing of ours left); DEL keeps that qdisc", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const veth = hostVeth(t, 0);
    tc(t.node, "qdisc", "add", "dev", veth, "root", "handle", "1:", "htb", "default", "10");
    tc(t.node, "class", "add", "dev", veth, "parent", "1:", "classid", "1:10", "htb", "rate", "1mbit");

    const r = add(t, 0, caps); // both directions: the IFB class is made first and must be undone
    expect(r.json).toEqual({
      cniVersion: "1.1.0", code: 105,
      msg: `set the veth's HTB root: ebpf-bandwidth: ${veth} already has a root qdisc of another tool (htb 1:)`,
      details: "nothing was changed; ebpf-bandwidth needs the root of this device for its HTB (handle 7c1:)",
    });
    expect(qdiscs(t, veth)).toEqual(["htb 1: root"]);
    expect(classes(t, veth)).toEqual(["1:10"]);
    expectNothingOfOurs(t, veth);

    expect(del(t, 0, caps).code).toBe(0);
    expect(qdiscs(t, veth)).toEqual(["htb 1: root"]);
    expect(classes(t, veth)).toEqual(["1:10"]);
  });

  it("refuses an ifbDevice carrying another tool's HTB root; ADD, DEL and GC leave the device, its qdisc and classes", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const veth = hostVeth(t, 0);
    const ifb = foreignIfb(t, { up: true, htb: "1:" });
    const conf = { ...caps, ifbDevice: ifb };

    const r = add(t, 0, conf);
    expect(r.json).toEqual({
      cniVersion: "1.1.0", code: 105,
      msg: `set up the IFB: ebpf-bandwidth: ifbDevice ${ifb} already has a root qdisc of another tool (htb 1:)`,
      details: "nothing was changed; ebpf-bandwidth needs the root of this device for its HTB (handle 7c2:)",
    });
    const unchanged = () => {
      expect(linksOf(t.node)).toContain(ifb);
      expect(alias(t, ifb)).toBeUndefined();
      expect(qdiscs(t, ifb)).toEqual(["htb 1: root"]);
      expect(classes(t, ifb)).toEqual(["1:10"]);
      expect(qdiscs(t, veth)).toEqual(["noqueue 0: root"]);
    };
    unchanged();
    expectNothingOfOurs(t, veth);

    expect(del(t, 0, conf).code).toBe(0);
    unchanged();
    expect(run(t, "GC", { ...conf, "cni.dev/valid-attachments": [] }).code).toBe(0);
    unchanged();
  });

  it("shares an ifbDevice it did not create whose root is the kernel's default: DEL and GC remove only our root and classes, never the device", () => {
    const t = topology(scope, { bridge: "reference", n: 2 });
    const ifb = foreignIfb(t, { up: true });
    expect(qdiscs(t, ifb)).toEqual(["pfifo_fast 0: root"]);
    const conf = { ...egressOnly, ifbDevice: ifb };

    expect(add(t, 0, conf).code).toBe(0);
    expect(add(t, 1, conf).code).toBe(0); // the second ADD finds our root on a device that is not ours: no adoption
    expect(alias(t, ifb)).toBeUndefined();
    expect(qdiscs(t, ifb).filter((q) => q.endsWith(" root"))).toEqual(["htb 7c2: root"]);
    expect(classes(t, ifb)).toHaveLength(6); // two attachments: parent + bulk + small each
    expect(run(t, "CHECK", { ...conf, prevResult: t.ctrs[0]!.result }, 0).code).toBe(0);

    expect(del(t, 0, conf).code).toBe(0);
    expect(classes(t, ifb)).toHaveLength(3);
    expect(del(t, 1, conf).code).toBe(0);
    expect(linksOf(t.node)).toContain(ifb);
    expect(qdiscs(t, ifb)).toEqual(["pfifo_fast 0: root"]);
    expect(classes(t, ifb)).toEqual([]);
    expect(alias(t, ifb)).toBeUndefined();

    // GC (everything invalid) takes the same care.
    expect(add(t, 0, conf).code).toBe(0);
    expect(run(t, "GC", { ...conf, "cni.dev/valid-attachments": [] }).code).toBe(0);
    expect(linksOf(t.node)).toContain(ifb);
    expect(qdiscs(t, ifb)).toEqual(["pfifo_fast 0: root"]);
    expect(pinsUnder(t.pinRoot)).toEqual([]);
  });

  it("refuses an ifbDevice it did not create that is down (bringing it up would change another tool's device)", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const ifb = foreignIfb(t, { up: false });
    const r = add(t, 0, { ...egressOnly, ifbDevice: ifb });
    expect(r.json).toEqual({
      cniVersion: "1.1.0", code: 105,
      msg: `set up the IFB: ebpf-bandwidth: ifbDevice ${ifb} is down and was not created by ebpf-bandwidth`,
      details: `nothing was changed; bring it up (ip link set ${ifb} up) or name a device ebpf-bandwidth may create`,
    });
    expect((JSON.parse(t.node.ip("-j", "link", "show", ifb)) as { flags: string[] }[])[0]!.flags).not.toContain("UP");
    expect(qdiscs(t, ifb)).toEqual([]);
    expectNothingOfOurs(t, hostVeth(t, 0));
  });

  it("refuses an ifbDevice name that belongs to a device of another kind (code 105, not an internal error)", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const r = add(t, 0, { ...egressOnly, ifbDevice: "bwbr0" }); // the bridge
    expect(r.json).toEqual({
      cniVersion: "1.1.0", code: 105,
      msg: "set up the IFB: ebpf-bandwidth: ifbDevice bwbr0 is a bridge device, not an ifb",
      details: "nothing was changed; name an ifb device, or one that does not exist yet",
    });
    expect(linksOf(t.node)).toContain("bwbr0");
    expect(qdiscs(t, "bwbr0")).toEqual(["noqueue 0: root"]);
    expectNothingOfOurs(t, hostVeth(t, 0));
  });

  it("marks the IFB it creates, and adopts an unmarked IFB with its own HTB root (an earlier build's); DEL leaves either idle for the next pod, GC deletes it", () => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    const gc = (extra: Record<string, unknown> = {}) => run(t, "GC", { "cni.dev/valid-attachments": [], ...extra });
    expect(add(t, 0, egressOnly).code).toBe(0);
    expect(alias(t, "tscni-ifb0")).toBe(MARK);
    expect(del(t, 0, egressOnly).code).toBe(0);
    expect(linksOf(t.node)).toContain("tscni-ifb0");
    expect(tc(t.node, "class", "show", "dev", "tscni-ifb0")).toBe("");
    expect(gc().code).toBe(0);
    expect(linksOf(t.node)).not.toContain("tscni-ifb0");

    const legacy = foreignIfb(t, { up: true, htb: "7c2:" });
    const conf = { ...egressOnly, ifbDevice: legacy };
    expect(add(t, 0, conf).code).toBe(0);
    expect(alias(t, legacy)).toBe(MARK);
    expect(del(t, 0, conf).code).toBe(0);
    expect(linksOf(t.node)).toContain(legacy);
    expect(gc({ ifbDevice: legacy }).code).toBe(0);
    expect(linksOf(t.node)).not.toContain(legacy);
  });
});
