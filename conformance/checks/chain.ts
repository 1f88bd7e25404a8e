// Chaining (spec §3): each plugin gets the previous plugin's result as prevResult and must pass
// it on (modified or not); CHECK and DEL get the final ADD result. Uses the chain fixture
// (bridge + host-local + a bandwidth plugin).
import { type Check, type CheckContext, type Conflist, expect } from "../harness";
import { resultProblems } from "../shape";
import { expectOk, expectOkSilent, preferredVersion } from "./util";

function chainFixture(ctx: CheckContext): Conflist {
  const conf = ctx.chainFixture();
  ctx.requirePlugins(conf);
  conf.cniVersion = preferredVersion(ctx, conf);
  if (conf.plugins.length < 2) expect(false, "chain fixture has fewer than two plugins");
  return conf;
}

export const chainChecks: Check[] = [
  {
    id: "chain.prevResult",
    family: "chain",
    title: "chained plugins pass prevResult through: final result keeps the first plugin's interfaces and IPs",
    spec: "SPEC-v1.1.0 §2 ADD (MUST handle prevResult), §5 (output prevResult with modifications)",
    async run(ctx) {
      const conf = chainFixture(ctx);
      const att = ctx.container();
      // Run the first plugin alone to know what the rest of the chain must carry forward.
      const first = await ctx.invoke(conf.plugins[0]!.type, { command: "ADD", stdin: ctx.requestConfig(conf, 0, undefined, att), env: ctx.attachmentEnv(att) });
      expectOk(first, "first plugin ADD ");
      att.result = first.json;
      ctx.onCleanup(async () => void (await ctx.delList(conf, att)));
      let prev = first.json;
      for (let i = 1; i < conf.plugins.length; i++) {
        const r = await ctx.invoke(conf.plugins[i]!.type, { command: "ADD", stdin: ctx.requestConfig(conf, i, prev, att), env: ctx.attachmentEnv(att) });
        expectOk(r, `plugin #${i} (${conf.plugins[i]!.type}) ADD `);
        const problems = resultProblems(r.json, conf.cniVersion);
        expect(problems.length === 0, () => `plugin #${i} result invalid: ${problems.join("; ")}`);
        for (const f of prev.interfaces ?? [])
          expect((r.json.interfaces ?? []).some((g: any) => g.name === f.name && (g.sandbox ?? "") === (f.sandbox ?? "")), `plugin #${i} dropped interface ${f.name} from prevResult`);
        for (const ip of prev.ips ?? []) expect((r.json.ips ?? []).some((j: any) => j.address === ip.address), `plugin #${i} dropped IP ${ip.address} from prevResult`);
        prev = r.json;
      }
      att.result = prev;
    },
  },
  {
    id: "chain.check",
    family: "chain",
    title: "CHECK through the whole chain with the final ADD result succeeds silently",
    spec: "SPEC-v1.1.0 §3 Checking an attachment",
    async run(ctx) {
      const conf = chainFixture(ctx);
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "chain ADD ");
      expectOkSilent(await ctx.checkList(conf, att), "chain CHECK ");
    },
  },
  {
    id: "chain.del",
    family: "chain",
    title: "DEL through the chain in reverse order succeeds, twice",
    spec: "SPEC-v1.1.0 §3 Deleting an attachment",
    async run(ctx) {
      const conf = chainFixture(ctx);
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "chain ADD ");
      expectOk(await ctx.delList(conf, att), "chain DEL ");
      expectOk(await ctx.delList(conf, att), "second chain DEL ");
    },
  },
];
