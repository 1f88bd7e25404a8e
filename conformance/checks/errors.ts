// Errors for a bad environment or a bad configuration (spec §2 Parameters, §5 Error codes).
// They run against every plugin type of the fixtures (interface plugin, its IPAM plugin, chained
// plugins) with an otherwise valid request, so the one defect is the only reason to fail. A
// correct plugin fails before touching anything.
import * as fs from "node:fs";
import { type Check, type CheckContext, type Conflist, expect } from "../harness";
import { expectError, expectOk, mainFixture, preferredVersion } from "./util";

interface Req {
  conf: Conflist;
  type: string;
  stdin: Record<string, unknown>;
  env: Record<string, string>;
}

/** One valid request per plugin type: delegated (IPAM) plugins get their parent's config. */
function requests(ctx: CheckContext, command = "ADD"): Req[] {
  const confs = [mainFixture(ctx)];
  if (ctx.chainFixtureFile) {
    const chain = ctx.chainFixture();
    if (ctx.typesOf(chain).every((t) => fs.existsSync(ctx.binaryFor(t))) && ctx.versionsFor(chain).length) {
      chain.cniVersion = preferredVersion(ctx, chain);
      confs.push(chain);
    }
  }
  const att = ctx.container();
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: att.containerID, CNI_NETNS: att.ns.path, CNI_IFNAME: att.ifname, CNI_PATH: ctx.target.dir };
  const out = new Map<string, Req>();
  for (const conf of confs)
    conf.plugins.forEach((p, i) => {
      const stdin = ctx.requestConfig(conf, i, undefined, att);
      for (const type of [p.type, p.ipam?.type].filter((t): t is string => !!t))
        if (!out.has(type)) out.set(type, { conf, type, stdin, env: { ...env } });
    });
  return [...out.values()];
}

function envCheck(id: string, title: string, mutate: (env: Record<string, string>) => void, code: number, command = "ADD"): Check {
  return {
    id,
    family: "env",
    title,
    spec: "SPEC-v1.1.0 §2 Parameters; §5 Error code 4",
    async run(ctx) {
      for (const q of requests(ctx, command)) {
        mutate(q.env);
        expectError(await ctx.invoke(q.type, { command, stdin: q.stdin, rawEnv: q.env }), code, `${q.type}: `);
      }
    },
  };
}

export const errorChecks: Check[] = [
  envCheck("env.missing-command", "no CNI_COMMAND → error code 4", (e) => delete e.CNI_COMMAND, 4),
  envCheck("env.unknown-command", "unknown CNI_COMMAND → error code 4", (e) => (e.CNI_COMMAND = "BOGUS"), 4),
  envCheck("env.add-missing-containerid", "ADD without CNI_CONTAINERID → error code 4", (e) => delete e.CNI_CONTAINERID, 4),
  envCheck("env.add-missing-netns", "ADD without CNI_NETNS → error code 4", (e) => delete e.CNI_NETNS, 4),
  envCheck("env.add-missing-ifname", "ADD without CNI_IFNAME → error code 4", (e) => delete e.CNI_IFNAME, 4),
  envCheck("env.check-missing-netns", "CHECK without CNI_NETNS → error code 4", (e) => delete e.CNI_NETNS, 4, "CHECK"),
  envCheck("env.del-missing-containerid", "DEL without CNI_CONTAINERID → error code 4", (e) => delete e.CNI_CONTAINERID, 4, "DEL"),
  envCheck("env.bad-containerid", "CNI_CONTAINERID with invalid characters → error code 4", (e) => (e.CNI_CONTAINERID = "bad id/.."), 4),
  envCheck("env.ifname-too-long", "CNI_IFNAME longer than 15 bytes → error code 4", (e) => (e.CNI_IFNAME = "eth0123456789abc"), 4),
  {
    id: "env.del-without-netns",
    family: "env",
    title: "DEL without CNI_NETNS (optional for DEL) of a never-added container succeeds",
    spec: "SPEC-v1.1.0 §2 DEL (CNI_NETNS optional; DEL of missing resources succeeds)",
    async run(ctx) {
      for (const q of requests(ctx, "DEL")) {
        delete q.env.CNI_NETNS;
        expectOk(await ctx.invoke(q.type, { command: "DEL", stdin: q.stdin, rawEnv: q.env }), `${q.type} DEL `);
      }
    },
  },
  {
    id: "config.not-json",
    family: "config",
    title: "stdin that is not JSON → error code 6",
    spec: "SPEC-v1.1.0 §5 Error code 6 (failed to decode content)",
    async run(ctx) {
      for (const q of requests(ctx)) expectError(await ctx.invoke(q.type, { command: "ADD", stdin: "{not json", rawEnv: q.env }), 6, `${q.type}: `);
    },
  },
  {
    id: "config.empty-stdin",
    family: "config",
    title: "empty stdin → error code 6",
    spec: "SPEC-v1.1.0 §5 Error code 6",
    async run(ctx) {
      for (const q of requests(ctx)) expectError(await ctx.invoke(q.type, { command: "ADD", stdin: "", rawEnv: q.env }), 6, `${q.type}: `);
    },
  },
  {
    id: "config.incompatible-version",
    family: "config",
    title: "cniVersion the plugin does not support (99.0.0) → error code 1",
    spec: "SPEC-v1.1.0 §5 Error code 1 (incompatible CNI version)",
    async run(ctx) {
      for (const q of requests(ctx)) expectError(await ctx.invoke(q.type, { command: "ADD", stdin: { ...q.stdin, cniVersion: "99.0.0" }, rawEnv: q.env }), 1, `${q.type}: `);
    },
  },
  {
    id: "error.cniVersion",
    family: "config",
    title: "error JSON carries the request's cniVersion",
    spec: "SPEC-v1.0.0/v1.1.0 §5 Error (cniVersion: the protocol version in use)",
    async run(ctx) {
      for (const q of requests(ctx)) {
        q.env.CNI_IFNAME = "eth0123456789abc";
        const r = await ctx.invoke(q.type, { command: "ADD", stdin: q.stdin, rawEnv: q.env });
        expectError(r, undefined, `${q.type}: `);
        expect(r.json.cniVersion === q.conf.cniVersion, () => `${q.type}: error cniVersion is ${JSON.stringify(r.json.cniVersion)}, request was ${q.conf.cniVersion}`);
      }
    },
  },
];
