// ADD → CHECK → DEL → DEL for every spec version, plus the attachment edge cases of spec §2/§3.
// Effects are observed from outside (addresses inside the container namespace), never by
// reading a plugin's private state.
import { spawnSync } from "node:child_process";
import { ALL_VERSIONS, type Attachment, type Check, type CheckContext, type Conflist, addressesIn, atLeast, describe, expect, skip } from "../harness";
import { resultAddresses, resultProblems } from "../shape";
import { expectError, expectOk, expectOkSilent, mainFixture } from "./util";

function fixtureAt(ctx: CheckContext, v: string, range?: [number, number]): Conflist {
  const conf = ctx.fixture(v, range);
  ctx.requirePlugins(conf);
  ctx.requireVersion(conf, v);
  return conf;
}

/** ADD must succeed with a well-formed result whose addresses are on the container interface. */
async function addAndVerify(ctx: CheckContext, conf: Conflist, att: Attachment): Promise<void> {
  const r = await ctx.addList(conf, att);
  expectOk(r, "ADD ");
  const problems = resultProblems(r.json, conf.cniVersion);
  expect(problems.length === 0, () => `ADD result not a valid ${conf.cniVersion} result: ${problems.join("; ")}\n${r.stdout.slice(0, 600)}`);
  if (atLeast(conf.cniVersion, "0.3.0")) {
    const mine = (r.json.interfaces ?? []).find((i: any) => i.name === att.ifname);
    expect(mine, `no interface ${att.ifname} in the result`);
    expect(mine.sandbox === att.ns.path, `interface ${att.ifname} sandbox is ${JSON.stringify(mine.sandbox)}, expected CNI_NETNS ${att.ns.path}`);
  }
  const want = resultAddresses(r.json, att.ifname, att.ns.path);
  expect(want.length > 0, "result assigns no address to the container interface");
  const have = addressesIn(att.ns, att.ifname);
  expect(have, `${att.ifname} does not exist in the container namespace after ADD`);
  const missing = want.filter((a) => !have!.includes(a));
  expect(missing.length === 0, () => `addresses ${missing.join(", ")} from the result are not on ${att.ifname} (has ${have!.join(", ")})`);
}

const perVersion = ALL_VERSIONS.flatMap((v): Check[] => [
  {
    id: `lifecycle.add@${v}`,
    family: "lifecycle",
    title: `ADD returns a valid ${v} result and configures the container interface`,
    spec: `SPEC-v${atLeast(v, "1.0.0") ? v : atLeast(v, "0.4.0") ? "0.4.0" : "0.3.1"} §2 ADD, §5 Result`,
    async run(ctx) {
      await addAndVerify(ctx, fixtureAt(ctx, v), ctx.container());
    },
  },
  atLeast(v, "0.4.0")
    ? {
        id: `lifecycle.check@${v}`,
        family: "lifecycle",
        title: `CHECK after ADD succeeds silently (${v})`,
        spec: "SPEC-v1.1.0 §2 CHECK, §3 Checking an attachment",
        async run(ctx) {
          const conf = fixtureAt(ctx, v);
          const att = ctx.container();
          expectOk(await ctx.addList(conf, att), "ADD ");
          expectOkSilent(await ctx.checkList(conf, att), "CHECK ");
        },
      }
    : {
        id: `lifecycle.check-refused@${v}`,
        family: "lifecycle",
        title: `CHECK with a ${v} config is refused with code 1 (CHECK needs 0.4.0)`,
        spec: "SPEC-v0.4.0 §2 CHECK; §5 Error code 1",
        async run(ctx) {
          const conf = fixtureAt(ctx, v);
          const att = ctx.container();
          const r = await ctx.invoke(conf.plugins[0]!.type, { command: "CHECK", stdin: ctx.requestConfig(conf, 0, undefined, att), env: ctx.attachmentEnv(att) });
          expectError(r, 1);
        },
      },
  {
    id: `lifecycle.del@${v}`,
    family: "lifecycle",
    title: `DEL removes the container interface and any BPF pins; a second DEL succeeds (${v})`,
    spec: "SPEC-v1.1.0 §2 DEL (MUST accept multiple DELs)",
    async run(ctx) {
      const conf = fixtureAt(ctx, v);
      const att = ctx.container();
      const pinsBefore = ctx.pins();
      expectOk(await ctx.addList(conf, att), "ADD ");
      expectOk(await ctx.delList(conf, att), "first DEL ");
      expect(addressesIn(att.ns, att.ifname) === undefined, `${att.ifname} still exists in the container after DEL`);
      expectOk(await ctx.delList(conf, att), "second DEL ");
      const leaked = ctx.newPins(pinsBefore);
      expect(leaked.length === 0, () => `BPF pins left after DEL: ${leaked.join(", ")}`);
    },
  },
]);

export const lifecycleChecks: Check[] = [
  ...perVersion,
  {
    id: "del.never-added",
    family: "lifecycle",
    title: "DEL of an attachment that was never added succeeds",
    spec: "SPEC-v1.1.0 §2 DEL (return success if the resources are missing)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      expectOk(await ctx.delList(conf, ctx.container()), "DEL ");
    },
  },
  {
    id: "del.netns-gone",
    family: "lifecycle",
    title: "DEL succeeds after the container namespace is gone (with and without CNI_NETNS)",
    spec: "SPEC-v1.1.0 §2 DEL (bridge example: clean up even if the netns no longer exists)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "ADD ");
      spawnSync("ip", ["netns", "delete", att.ns.name]);
      expectOk(await ctx.delList(conf, att, true), "DEL with a stale CNI_NETNS ");
      expectOk(await ctx.delList(conf, att, false), "DEL without CNI_NETNS ");
    },
  },
  {
    id: "del.releases-address",
    family: "lifecycle",
    title: "DEL releases the address: a one-address range can be reused",
    spec: "SPEC-v1.1.0 §2 DEL (undo modifications; IPAM releases its allocation)",
    async run(ctx) {
      const conf = mainFixture(ctx, [10, 10]);
      const a = ctx.container();
      expectOk(await ctx.addList(conf, a), "ADD a ");
      expectOk(await ctx.delList(conf, a), "DEL a ");
      expectOk(await ctx.addList(conf, ctx.container()), "ADD b into the released address ");
    },
  },
  {
    id: "add.duplicate-ifname",
    family: "lifecycle",
    title: "a second ADD for an existing (container, ifname) fails",
    spec: "SPEC-v1.1.0 §2 ADD (interface of the requested name exists → MUST error)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "first ADD ");
      const first = att.result;
      const r = await ctx.addList(conf, { ...att });
      att.result = first;
      expectError(r, undefined, "second ADD: ");
    },
  },
  {
    id: "check.detects-missing-interface",
    family: "lifecycle",
    title: "CHECK fails when the container interface was removed",
    spec: "SPEC-v1.1.0 §2 CHECK (error if a resource in prevResult is missing)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      if (!atLeast(conf.cniVersion, "0.4.0")) skip("CHECK needs 0.4.0");
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "ADD ");
      spawnSync("ip", ["-n", att.ns.name, "link", "del", att.ifname]);
      expectError(await ctx.checkList(conf, att), undefined, "CHECK: ");
    },
  },
  {
    id: "check.detects-missing-address",
    family: "lifecycle",
    title: "CHECK fails when an address from the result was removed from the container interface",
    spec: "SPEC-v1.1.0 §2 CHECK (error if an address in prevResult is missing)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      if (!atLeast(conf.cniVersion, "0.4.0")) skip("CHECK needs 0.4.0");
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "ADD ");
      const addr = resultAddresses(att.result, att.ifname, att.ns.path)[0]!;
      spawnSync("ip", ["-n", att.ns.name, "addr", "del", addr, "dev", att.ifname]);
      expectError(await ctx.checkList(conf, att), undefined, `CHECK after removing ${addr}: `);
    },
  },
  {
    id: "add.failure-releases-address",
    family: "lifecycle",
    title: "a failed ADD (interface name taken in the container) leaks no address",
    spec: "SPEC-v1.1.0 §4 (on ADD failure the upper plugin runs the delegate's DEL); §2 ADD",
    async run(ctx) {
      const conf = mainFixture(ctx, [10, 10]);
      const taken = ctx.container();
      // (a veth pair: this kernel has no dummy driver)
      spawnSync("ip", ["-n", taken.ns.name, "link", "add", taken.ifname, "type", "veth", "peer", "name", "occupant0"]);
      const r = await ctx.addList(conf, taken);
      expectError(r, undefined, `ADD into a container that already has ${taken.ifname}: `);
      const other = ctx.container();
      const r2 = await ctx.addList(conf, other);
      expect(r2.code === 0, () => `ADD of another container into the one-address range failed — the failed ADD leaked it: ${describe(r2)}`);
    },
  },
  {
    id: "add.cni-args",
    family: "lifecycle",
    title: "ADD accepts the CNI_ARGS a kubelet passes (IgnoreUnknown=1;K8S_POD_…)",
    spec: "SPEC-v1.1.0 §2 Parameters (CNI_ARGS); CONVENTIONS CNI_ARGS",
    async run(ctx) {
      const conf = mainFixture(ctx);
      const att = { ...ctx.container(), args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123" };
      expectOk(await ctx.addList(conf, att), "ADD with CNI_ARGS ");
      expectOk(await ctx.delList(conf, att), "DEL with CNI_ARGS ");
    },
  },
  {
    id: "check.requires-prevResult",
    family: "lifecycle",
    title: "CHECK without prevResult fails (the runtime must send the ADD result)",
    spec: "SPEC-v1.1.0 §2 CHECK (plugin must consult prevResult; runtime must include it)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      if (!atLeast(conf.cniVersion, "0.4.0")) skip("CHECK needs 0.4.0");
      const att = ctx.container();
      expectOk(await ctx.addList(conf, att), "ADD ");
      const r = await ctx.invoke(conf.plugins[0]!.type, { command: "CHECK", stdin: ctx.requestConfig(conf, 0, undefined, att), env: ctx.attachmentEnv(att) });
      expectError(r, undefined, "CHECK without prevResult: ");
    },
  },
  {
    id: "add.concurrent",
    family: "lifecycle",
    title: "4 concurrent ADDs on one network all succeed with distinct addresses",
    spec: "SPEC-v1.1.0 §3 Lifecycle (plugins must handle concurrent execution across containers)",
    async run(ctx) {
      const conf = mainFixture(ctx);
      const atts = [0, 1, 2, 3].map(() => ctx.container());
      const rs = await Promise.all(atts.map((a) => ctx.addList(conf, a)));
      rs.forEach((r, i) => expect(r.code === 0, () => `ADD #${i} failed: ${describe(r)}`));
      const addrs = atts.flatMap((a) => resultAddresses(a.result, a.ifname, a.ns.path));
      expect(new Set(addrs).size === addrs.length, `duplicate addresses handed out: ${addrs.join(", ")}`);
    },
  },
];
