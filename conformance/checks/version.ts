// VERSION (spec §2 "VERSION", §5 "VERSION Success"): every plugin of the fixture is probed.
import * as fs from "node:fs";
import { ALL_VERSIONS, type Check, type CheckContext, describe, expect } from "../harness";
import { expectOk } from "./util";

/** Every plugin type of the main fixture, and of the chain fixture where present in the dir. */
function pluginTypes(ctx: CheckContext): string[] {
  const conf = ctx.fixture();
  ctx.requirePlugins(conf);
  const types = new Set(ctx.typesOf(conf));
  if (ctx.chainFixtureFile) for (const t of ctx.typesOf(ctx.chainFixture())) if (fs.existsSync(ctx.binaryFor(t))) types.add(t);
  return [...types];
}

const KNOWN = new Set<string>(ALL_VERSIONS);

export const versionChecks: Check[] = [
  {
    id: "version.supported",
    family: "version",
    title: "VERSION exits 0 with a supportedVersions list of known versions",
    spec: "SPEC-v1.1.0 §2 VERSION, §5 VERSION Success",
    async run(ctx) {
      for (const t of pluginTypes(ctx)) {
        const r = await ctx.invoke(t, { command: "VERSION", stdin: { cniVersion: "1.0.0" } });
        expectOk(r, `${t} VERSION `);
        const sv = r.json?.supportedVersions;
        expect(Array.isArray(sv) && sv.length > 0, () => `${t}: supportedVersions missing: ${describe(r)}`);
        const unknown = (sv as unknown[]).filter((v) => typeof v !== "string" || !/^\d+\.\d+\.\d+$/.test(v));
        expect(unknown.length === 0, `${t}: supportedVersions holds non-versions ${JSON.stringify(unknown)}`);
        expect((sv as string[]).some((v) => KNOWN.has(v)), `${t}: supports no released spec version`);
      }
    },
  },
  {
    id: "version.env-minimal",
    family: "version",
    title: "VERSION needs only CNI_COMMAND (no container, netns, ifname or path)",
    spec: "SPEC-v1.1.0 §2 VERSION (required: CNI_COMMAND)",
    async run(ctx) {
      for (const t of pluginTypes(ctx)) {
        const r = await ctx.invoke(t, { command: "VERSION", stdin: { cniVersion: "0.4.0" }, rawEnv: { CNI_COMMAND: "VERSION" } });
        expectOk(r, `${t} VERSION `);
        expect(Array.isArray(r.json?.supportedVersions), () => `${t}: no supportedVersions: ${describe(r)}`);
      }
    },
  },
  // Spec: "cniVersion: The value of cniVersion specified on input" — one check per version.
  ...ALL_VERSIONS.map(
    (v): Check => ({
      id: `version.echo@${v}`,
      family: "version",
      title: `VERSION answers with the cniVersion given on stdin (${v})`,
      spec: "SPEC-v1.1.0 §5 VERSION Success (cniVersion: the value specified on input)",
      async run(ctx) {
        for (const t of pluginTypes(ctx)) {
          const r = await ctx.invoke(t, { command: "VERSION", stdin: { cniVersion: v } });
          expectOk(r, `${t} VERSION `);
          expect(r.json?.cniVersion === v, () => `${t}: answered cniVersion ${JSON.stringify(r.json?.cniVersion)} for input ${v}`);
        }
      },
    }),
  ),
];
