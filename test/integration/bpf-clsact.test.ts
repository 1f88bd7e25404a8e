// The clsact + cls_bpf (direct-action) fallback: attach through our rtnetlink layer, traffic is
// counted, TCX programs run before it, detach leaves no filter or empty clsact behind.
import { afterEach, describe, expect, it } from "vitest";
import { attachClsact, detachClsact, listClsact } from "../../kernel/bpf/clsact";
import { loadCollection } from "../../kernel/bpf/loader";
import { objectSpec } from "../../kernel/bpf/objects";
import { haveTcx } from "../../kernel/bpf/probe";
import { DIR_KEY, sumShapeStats } from "../../kernel/bpf/shaping";
import { attachTcx } from "../../kernel/bpf/tcx";
import { NsScope, isRoot } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

function pair() {
  const a = scope.netns("ca");
  const b = scope.netns("cb");
  a.ip("link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", b.name);
  a.ip("addr", "add", "10.98.0.1/24", "dev", "a0");
  b.ip("addr", "add", "10.98.0.2/24", "dev", "b0");
  a.ip("link", "set", "a0", "up");
  b.ip("link", "set", "b0", "up");
  return { a, b };
}

describe.skipIf(!isRoot())("clsact fallback", () => {
  it("attaches a direct-action filter that counts traffic, and detaches cleanly", () => {
    const { a } = pair();
    const c = loadCollection(objectSpec("classify"));
    try {
      const att = attachClsact(c.program("classify_egress"), { link: "a0", direction: "egress", netns: a.path });
      expect(att.progId).toBe(c.program("classify_egress").info().id);
      const filters = listClsact({ link: "a0", direction: "egress", netns: a.path });
      expect(filters).toHaveLength(1);
      expect(filters[0]!.bpf).toMatchObject({ directAction: true, id: att.progId });

      a.run("ping", ["-c", "2", "-i", "0.05", "-W", "1", "-q", "10.98.0.2"]);
      expect(sumShapeStats(c.map("stats").lookupPerCpu(DIR_KEY.egress)!).packets).toBeGreaterThanOrEqual(2n);

      detachClsact({ link: "a0", direction: "egress", netns: a.path });
      expect(listClsact({ link: "a0", direction: "egress", netns: a.path })).toEqual([]);
      expect(a.run("tc", ["qdisc", "show", "dev", "a0"]).stdout).not.toMatch(/clsact/);
      detachClsact({ link: "a0", direction: "egress", netns: a.path }); // idempotent
    } finally {
      c.close();
    }
  });

  it.skipIf(!haveTcx())("runs after TCX programs that return TCX_NEXT", () => {
    const { a } = pair();
    const viaTcx = loadCollection(objectSpec("classify"));
    const viaTc = loadCollection(objectSpec("classify"));
    const link = attachTcx(viaTcx.program("classify_egress"), { ifindex: Number(a.ip("-j", "link", "show", "a0").match(/"ifindex":(\d+)/)![1]), direction: "egress", netns: a.path });
    try {
      attachClsact(viaTc.program("classify_egress"), { link: "a0", direction: "egress", netns: a.path });
      a.run("ping", ["-c", "2", "-i", "0.05", "-W", "1", "-q", "10.98.0.2"]);
      for (const c of [viaTcx, viaTc]) expect(sumShapeStats(c.map("stats").lookupPerCpu(DIR_KEY.egress)!).packets).toBeGreaterThanOrEqual(2n);
    } finally {
      link.close();
      viaTcx.close();
      viaTc.close();
    }
  });
});
