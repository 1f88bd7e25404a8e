// Errors for a bad environment or a bad configuration (spec §2 Parameters, §5 Error codes).
// They run against the fixture's first plugin with an otherwise valid request, so the one
// defect is the only reason to fail. A correct plugin fails before touching anything.
import { type Check, type CheckContext, type Conflist, expect } from "../harness";
import { expectError, expectOk, mainFixture } from "./util";

interface Req {
  conf: Conflist;
  type: string;
  stdin: Record<string, unknown>;
  env: Record<string, string>;
}

function request(ctx: CheckContext, command = "ADD"): Req {
  const conf = mainFixture(ctx);
  const att = ctx.container();
  return {
    conf,
    type: conf.plugins[0]!.type,
    stdin: ctx.requestConfig(conf, 0, undefined, att),
    env: { CNI_COMMAND: command, CNI_CONTAINERID: att.containerID, CNI_NETNS: att.ns.path, CNI_IFNAME: att.ifname, CNI_PATH: ctx.target.dir },
  };
}

function envCheck(id: string, title: string, mutate: (env: Record<string, string>) => void, code: number, command = "ADD"): Check {
  return {
    id,
    family: "env",
    title,
    spec: "SPEC-v1.1.0 §2 Parameters; §5 Error code 4",
    async run(ctx) {
      const q = request(ctx, command);
      mutate(q.env);
      const r = await ctx.invoke(q.type, { command, stdin: q.stdin, rawEnv: q.env });
      expectError(r, code);
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
      const q = request(ctx, "DEL");
      delete q.env.CNI_NETNS;
      expectOk(await ctx.invoke(q.type, { command: "DEL", stdin: q.stdin, rawEnv: q.env }), "DEL ");
    },
  },
  {
    id: "config.not-json",
    family: "config",
    title: "stdin that is not JSON → error code 6",
    spec: "SPEC-v1.1.0 §5 Error code 6 (failed to decode content)",
    async run(ctx) {
      const q = request(ctx);
      expectError(await ctx.invoke(q.type, { command: "ADD", stdin: "{not json", rawEnv: q.env }), 6);
    },
  },
  {
    id: "config.empty-stdin",
    family: "config",
    title: "empty stdin → error code 6",
    spec: "SPEC-v1.1.0 §5 Error code 6",
    async run(ctx) {
      const q = request(ctx);
      expectError(await ctx.invoke(q.type, { command: "ADD", stdin: "", rawEnv: q.env }), 6);
    },
  },
  {
    id: "config.incompatible-version",
    family: "config",
    title: "cniVersion the plugin does not support (99.0.0) → error code 1",
    spec: "SPEC-v1.1.0 §5 Error code 1 (incompatible CNI version)",
    async run(ctx) {
      const q = request(ctx);
      expectError(await ctx.invoke(q.type, { command: "ADD", stdin: { ...q.stdin, cniVersion: "99.0.0" }, rawEnv: q.env }), 1);
    },
  },
  {
    id: "error.cniVersion",
    family: "config",
    title: "error JSON carries the request's cniVersion",
    spec: "SPEC-v1.0.0/v1.1.0 §5 Error (cniVersion: the protocol version in use)",
    async run(ctx) {
      const q = request(ctx);
      q.env.CNI_IFNAME = "eth0123456789abc";
      const r = await ctx.invoke(q.type, { command: "ADD", stdin: q.stdin, rawEnv: q.env });
      expectError(r);
      expect(r.json.cniVersion === q.conf.cniVersion, () => `error cniVersion is ${JSON.stringify(r.json.cniVersion)}, request was ${q.conf.cniVersion}`);
    },
  },
];
