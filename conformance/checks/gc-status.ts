// GC and STATUS (spec 1.1.0 §2). A plugin that does not claim 1.1.0 fails these: that is the
// point of recording the reference plugins' gap in expected-differences.json.
import { spawnSync } from "node:child_process";
import { type Check, type CheckContext, type Conflist, describe, expect, fail, fixtureSupportsRange, skip } from "../harness";
import { expectError, expectOk, expectOkSilent } from "./util";

function at110(ctx: CheckContext, range?: [number, number]): Conflist {
  const conf = ctx.fixture("1.1.0", range);
  ctx.requirePlugins(conf);
  const missing = ctx.typesOf(conf).filter((t) => !(ctx.claimed.get(t) ?? []).includes("1.1.0"));
  if (missing.length) fail(`${missing.join(", ")} do(es) not claim cniVersion 1.1.0, so no GC/STATUS`);
  return conf;
}

/** Two attachments fill a two-address range; GC keeping only the first must free the second. */
function gcReleases(id: string, key: string): Check {
  return {
    id,
    family: "gc",
    title: `GC with ${key} releases the resources (addresses, BPF pins) of attachments not listed, keeps the listed one`,
    spec: "SPEC-v1.1.0 §2 GC; SPEC-head §2 GC (cni.dev/valid-attachments)",
    async run(ctx) {
      if (!fixtureSupportsRange(ctx.fixtureFile)) fail("fixture has no __RANGE_END4__ placeholder: cannot observe GC");
      const conf = at110(ctx, [10, 11]);
      const keep = ctx.container();
      const stale = ctx.container();
      const pinsBefore = ctx.pins();
      expectOk(await ctx.addList(conf, keep), "ADD keep ");
      expectOk(await ctx.addList(conf, stale), "ADD stale ");
      // A runtime GCs after the sandbox is gone; the veth went with it.
      spawnSync("ip", ["netns", "delete", stale.ns.name]);
      for (const r of await ctx.gcList(conf, [keep], key)) expectOkSilent(r, "GC ");
      const fresh = ctx.container();
      const r = await ctx.addList(conf, fresh);
      expect(r.code === 0, () => `ADD after GC failed — the stale attachment's address was not released: ${describe(r)}`);
      expectOkSilent(await ctx.checkList(conf, keep), "CHECK of the kept attachment after GC ");
      // With the live attachments deleted properly, anything still pinned belonged to the stale one.
      expectOk(await ctx.delList(conf, keep), "DEL keep ");
      expectOk(await ctx.delList(conf, fresh), "DEL fresh ");
      const leaked = ctx.newPins(pinsBefore);
      expect(leaked.length === 0, () => `BPF pins of the stale attachment left after GC: ${leaked.join(", ")}`);
    },
  };
}

export const gcStatusChecks: Check[] = [
  {
    id: "gc.accepts",
    family: "gc",
    title: "GC with an empty cni.dev/valid-attachments list succeeds silently (CNI_PATH only)",
    spec: "SPEC-v1.1.0 §2 GC (required env: CNI_COMMAND, CNI_PATH; no output on success)",
    async run(ctx) {
      const conf = at110(ctx);
      for (const r of await ctx.gcList(conf, [])) expectOkSilent(r, "GC ");
    },
  },
  gcReleases("gc.releases", "cni.dev/valid-attachments"),
  gcReleases("gc.releases-legacy-key", "cni.dev/attachments"),
  {
    id: "gc.version-gate",
    family: "gc",
    title: "GC with a 1.0.0 config is refused with code 1 (GC needs 1.1.0)",
    spec: "SPEC-v1.1.0 §2 GC; §5 Error code 1",
    async run(ctx) {
      const conf = ctx.fixture("1.0.0");
      ctx.requirePlugins(conf);
      const r = await ctx.invoke(conf.plugins[0]!.type, { command: "GC", stdin: ctx.requestConfig(conf, 0, undefined, undefined, { "cni.dev/valid-attachments": [] }) });
      expectError(r, 1);
    },
  },
  {
    id: "status.ok",
    family: "status",
    title: "STATUS with only CNI_COMMAND and CNI_PATH succeeds silently on a healthy network",
    spec: "SPEC-v1.1.0 §2 STATUS",
    async run(ctx) {
      const conf = at110(ctx);
      for (const r of await ctx.statusList(conf)) expectOkSilent(r, "STATUS ");
    },
  },
  {
    id: "status.exhausted",
    family: "status",
    title: "STATUS reports code 50 when the address range is exhausted (SHOULD)",
    spec: "SPEC-v1.1.0 §2 STATUS (limited resources exhausted → error; code 50)",
    async run(ctx) {
      if (!fixtureSupportsRange(ctx.fixtureFile)) fail("fixture has no __RANGE_END4__ placeholder");
      const conf = at110(ctx, [10, 10]);
      expectOk(await ctx.addList(conf, ctx.container()), "ADD of the only address ");
      const rs = await ctx.statusList(conf);
      const last = rs.at(-1)!;
      expectError(last, 50, "STATUS on a full range: ");
    },
  },
  {
    id: "status.delegates",
    family: "status",
    title: "STATUS fails when the delegated IPAM plugin is missing (STATUS is forwarded)",
    spec: "SPEC-v1.1.0 §2 STATUS (a plugin relying on a delegated plugin must execute STATUS on it)",
    async run(ctx) {
      const conf = at110(ctx);
      const withIpam = conf.plugins.findIndex((p) => p.ipam?.type);
      if (withIpam < 0) skip("fixture has no delegated IPAM plugin");
      conf.plugins[withIpam]!.ipam.type = "no-such-ipam-plugin";
      const r = await ctx.invoke(conf.plugins[withIpam]!.type, { command: "STATUS", stdin: ctx.requestConfig(conf, withIpam, undefined) });
      expectError(r, undefined, "STATUS with a missing IPAM plugin: ");
    },
  },
  {
    id: "status.version-gate",
    family: "status",
    title: "STATUS with a 1.0.0 config is refused with code 1 (STATUS needs 1.1.0)",
    spec: "SPEC-v1.1.0 §2 STATUS; §5 Error code 1",
    async run(ctx) {
      const conf = ctx.fixture("1.0.0");
      ctx.requirePlugins(conf);
      expectError(await ctx.invoke(conf.plugins[0]!.type, { command: "STATUS", stdin: ctx.requestConfig(conf, 0, undefined) }), 1);
    },
  },
];
