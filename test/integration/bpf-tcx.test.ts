// TCX attachment in throwaway namespaces: traffic is counted, other TCX programs still see it,
// pinned links survive the loader and are detached from a fresh process, and DEL works when the
// device is already gone. Pins live under a unique /sys/fs/bpf/tscni-test-* removed in cleanup.
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
import { DIR_KEY, attachShaping, readShapingStats, removeShaping, sumShapeStats } from "../../kernel/bpf/shaping";
import { tcHandle } from "../../kernel/netlink/tc-handle";
import { attachTcx, queryTcx } from "../../kernel/bpf/tcx";
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

/** Run TypeScript in a fresh node process (no shared fds): proves pins are the only link. */
function freshProcess(code: string): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

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

  it("keeps shaping after the loader exits; a fresh process reads the pins and detaches", () => {
    const { a, ifindex } = vethPair();
    const root = pinRoot();
    const att = attachShaping({
      program: "police", ifindex, netns: a.path, pinRoot: root, name: "ctr1-eth0",
      config: { egress: { rate: 0n }, ingress: { rate: 0n } },
    });
    expect(att.directions).toEqual(["ingress", "egress"]);
    expect(fs.readdirSync(att.dir).sort()).toEqual(
      [pinName.link("egress"), pinName.link("ingress"), pinName.map("cfg"), pinName.map("state"), pinName.map("stats")].sort(),
    );
    // Nothing held open in this process, and still attached.
    expect(queryTcx(ifindex, "egress", a.path).linkIds).toEqual([att.linkIds.egress]);
    ping(a, "10.99.0.2", 2);
    expect(readShapingStats(att.dir).egress.packets).toBeGreaterThanOrEqual(2n);

    const out = freshProcess(`
      import { readShapingStats, removeShaping } from "./kernel/bpf/shaping.ts";
      import { BpfLink } from "./kernel/bpf/handles.ts";
      const l = BpfLink.fromPin(${JSON.stringify(path.join(att.dir, pinName.link("egress")))});
      const info = l.info(); l.close();
      const s = readShapingStats(${JSON.stringify(att.dir)});
      removeShaping(${JSON.stringify(att.dir)});
      console.log(JSON.stringify({ link: info.id, pkts: String(s.egress.packets) }));
    `);
    const res = JSON.parse(out.trim()) as { link: number; pkts: string };
    expect(res.link).toBe(att.linkIds.egress);
    expect(BigInt(res.pkts)).toBeGreaterThanOrEqual(2n);
    expect(fs.existsSync(att.dir)).toBe(false);
    expect(queryTcx(ifindex, "egress", a.path).progIds).toEqual([]);
    expect(queryTcx(ifindex, "ingress", a.path).progIds).toEqual([]);
  });

  it("removes pins when the device was deleted first, and is idempotent", () => {
    const { a, ifindex } = vethPair();
    const root = pinRoot();
    const att = attachShaping({ program: "classify", ifindex, netns: a.path, pinRoot: root, name: "gone", config: { egress: {} } });
    a.ip("link", "del", "a0");
    // The link outlives its device as a pin (ARCHITECTURE.md, state): removeShaping must still clean up.
    const l = BpfLink.fromPin(path.join(att.dir, pinName.link("egress")));
    expect(l.info().ifindex).toBe(0);
    l.close();
    removeShaping(att.dir);
    expect(fs.existsSync(att.dir)).toBe(false);
    removeShaping(att.dir);
  });

  it("steers packets into the HTB class named by skb->priority, without any tc filter", () => {
    const { a, ifindex } = vethPair();
    // default 0: unclassified packets bypass the classes, so a count on 1:10 proves the steering.
    a.run("tc", ["qdisc", "add", "dev", "a0", "root", "handle", "1:", "htb", "default", "0"]);
    a.run("tc", ["class", "add", "dev", "a0", "parent", "1:", "classid", "1:10", "htb", "rate", "10mbit"]);
    const root = pinRoot();
    const att = attachShaping({
      program: "classify", ifindex, netns: a.path, pinRoot: root, name: "htb",
      config: { egress: { classid: tcHandle(1, 0x10) } },
    });
    ping(a, "10.99.0.2", 3);
    // This tc has no JSON output for classes: read "Sent <bytes> bytes <pkts> pkt".
    const show = a.run("tc", ["-s", "class", "show", "dev", "a0", "classid", "1:10"]).stdout;
    expect(Number(/Sent \d+ bytes (\d+) pkt/.exec(show)?.[1])).toBeGreaterThanOrEqual(3);
    removeShaping(att.dir);
  });

  it("redirects ingress to a shared IFB whose HTB class is picked by skb->priority (container egress)", () => {
    const { a, b, ifindex } = vethPair();
    a.ip("link", "add", "ifb0", "type", "ifb");
    a.ip("link", "set", "ifb0", "up");
    a.run("tc", ["qdisc", "add", "dev", "ifb0", "root", "handle", "1:", "htb", "default", "0"]);
    a.run("tc", ["class", "add", "dev", "ifb0", "parent", "1:", "classid", "1:20", "htb", "rate", "10mbit"]);
    const ifb = (JSON.parse(a.ip("-j", "link", "show", "ifb0")) as { ifindex: number }[])[0]!.ifindex;
    const att = attachShaping({
      program: "classify", ifindex, netns: a.path, pinRoot: pinRoot(), name: "ifb",
      config: { ingress: { classid: tcHandle(1, 0x20), redirectIfindex: ifb } },
    });
    ping(b, "10.99.0.1", 3); // replies prove the IFB hands packets back to a0's ingress
    const show = a.run("tc", ["-s", "class", "show", "dev", "ifb0", "classid", "1:20"]).stdout;
    expect(Number(/Sent \d+ bytes (\d+) pkt/.exec(show)?.[1])).toBeGreaterThanOrEqual(3);
    removeShaping(att.dir);
  });

  it("undoes everything when attaching fails", () => {
    const { a } = vethPair();
    const root = pinRoot();
    expect(() =>
      attachShaping({ program: "classify", ifindex: 999_999, netns: a.path, pinRoot: root, name: "fail", config: { ingress: {} } }),
    ).toThrow(expect.objectContaining({ code: "ENODEV" }));
    expect(fs.existsSync(path.join(root, "fail"))).toBe(false);
  });
});
