// The one GC policy (core/config.ts parseValidAttachments, applied by the dispatcher): a GC without
// the list of attachments to keep, or with a malformed one, is refused with code 7 before any
// plugin code runs; otherwise the plugin gets the list, typed. No root needed: the real plugins
// are dispatched, and a refused GC never reaches their kernel code.
import { describe, expect, it } from "vitest";
import { GC_LIST_KEYS, parseValidAttachments } from "../../core/config";
import { CniError } from "../../core/errors";
import type { GcArgs, Plugin } from "../../core/plugin";
import { dispatch } from "../../core/skel";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { plugin as bridge } from "../../plugins/bridge/index";
import { plugin as bandwidth } from "../../plugins/ebpf-bandwidth/index";
import { plugin as loopback } from "../../plugins/loopback/index";
import { plugin as hostLocal } from "../../ipam/host-local/index";

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    const err = e as CniError;
    return { code: err.code, msg: err.msg, details: err.details };
  }
  return undefined;
};

const A = { containerID: "ctr-a", ifname: "eth0" };
const B = { containerID: "ctr-b", ifname: "net1" };

describe("GC's list of attachments to keep", () => {
  it("is read from cni.dev/valid-attachments", () => {
    expect(parseValidAttachments({ "cni.dev/valid-attachments": [A, B] })).toEqual([A, B]);
  });

  it("is read from the older cni.dev/attachments", () => {
    expect(parseValidAttachments({ "cni.dev/attachments": [B] })).toEqual([B]);
  });

  it("prefers cni.dev/valid-attachments when both are given", () => {
    expect(parseValidAttachments({ "cni.dev/attachments": [B], "cni.dev/valid-attachments": [A] })).toEqual([A]);
  });

  it("folds the keys' case as Go does", () => {
    expect(parseValidAttachments({ "CNI.dev/Valid-Attachments": [{ ContainerID: "ctr-a", IFNAME: "eth0" }] })).toEqual([A]);
  });

  it("may be empty: then nothing is valid", () => {
    expect(parseValidAttachments({ "cni.dev/valid-attachments": [] })).toEqual([]);
  });

  it("ignores other keys of an entry", () => {
    expect(parseValidAttachments({ "cni.dev/valid-attachments": [{ ...A, netns: "/x" }] })).toEqual([A]);
  });

  it("is refused when missing under both keys", () => {
    expect(refusal(() => parseValidAttachments({ name: "n" }))).toEqual({
      code: 7,
      msg: 'missing "cni.dev/valid-attachments"',
      details: 'GC needs the list of attachments to keep (or "cni.dev/attachments"); without it nothing is removed',
    });
  });

  it("is refused when null (JSON null is absent, as in Go)", () => {
    expect(refusal(() => parseValidAttachments({ "cni.dev/valid-attachments": null }))?.code).toBe(7);
  });

  it.each([
    ["an object", {}, "object"],
    ["a string", "ctr-a", "string"],
    ["a number", 1, "number"],
  ])("is refused when it is %s", (_what, list, type) => {
    expect(refusal(() => parseValidAttachments({ "cni.dev/valid-attachments": list }))).toEqual({ code: 7, msg: 'invalid "cni.dev/valid-attachments"', details: `must be an array, got ${type}` });
  });

  it("is refused for an entry that is not an object, naming the key it came under", () => {
    expect(refusal(() => parseValidAttachments({ "cni.dev/attachments": [A, "ctr-b"] }))).toEqual({ code: 7, msg: 'invalid "cni.dev/attachments[1]"', details: "must be an object, got string" });
  });

  it.each([
    ["without containerID", { ifname: "eth0" }, 'invalid "cni.dev/valid-attachments[0].containerID"', "missing"],
    ["without ifname", { containerID: "ctr-a" }, 'invalid "cni.dev/valid-attachments[0].ifname"', "missing"],
    ["with an empty containerID", { containerID: "", ifname: "eth0" }, 'invalid "cni.dev/valid-attachments[0].containerID"', "must not be empty"],
    ["with a numeric ifname", { containerID: "ctr-a", ifname: 0 }, 'invalid "cni.dev/valid-attachments[0].ifname"', "must be a string, got number"],
  ])("is refused for an entry %s", (_what, entry, msg, details) => {
    expect(refusal(() => parseValidAttachments({ "cni.dev/valid-attachments": [entry] }))).toEqual({ code: 7, msg, details });
  });

  it("is refused when cni.dev/valid-attachments is malformed, even with a good cni.dev/attachments", () => {
    expect(refusal(() => parseValidAttachments({ "cni.dev/valid-attachments": {}, "cni.dev/attachments": [A] }))?.code).toBe(7);
  });

  it("names both keys", () => {
    expect(GC_LIST_KEYS).toEqual(["cni.dev/valid-attachments", "cni.dev/attachments"]);
  });
});

const gcEnv = { CNI_COMMAND: "GC", CNI_PATH: "/nonexistent" };

async function gc(plugin: Plugin, extra: Record<string, unknown>) {
  let stdout = "";
  const stdin = Buffer.from(JSON.stringify({ cniVersion: "1.1.0", name: "gcnet", type: plugin.name, ...extra }));
  const code = await dispatch(plugin, { env: gcEnv, stdin, stdout: (s) => (stdout += s), stderr: () => {} });
  return { code, json: stdout ? JSON.parse(stdout) : undefined };
}

describe("the dispatcher applies the policy for every plugin", () => {
  const missing = { cniVersion: "1.1.0", code: 7, msg: 'missing "cni.dev/valid-attachments"', details: 'GC needs the list of attachments to keep (or "cni.dev/attachments"); without it nothing is removed' };

  it.each([bridge, hostLocal, bandwidth, loopback].map((p) => [p.name, p] as const))("%s refuses a GC without the list (code 7)", async (_name, plugin) => {
    expect(await gc(plugin, {})).toEqual({ code: 1, json: missing });
  });

  it.each([bridge, hostLocal, bandwidth, loopback].map((p) => [p.name, p] as const))("%s refuses a GC with a malformed list (code 7)", async (_name, plugin) => {
    const r = await gc(plugin, { "cni.dev/valid-attachments": [{ containerID: "ctr-a" }] });
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 7, msg: 'invalid "cni.dev/valid-attachments[0].ifname"', details: "missing" });
  });

  it("never calls the plugin's GC for a refused list", async () => {
    const calls: string[] = [];
    const fake: Plugin = {
      name: "fake", supportedVersions: SUPPORTED_VERSIONS,
      add: async () => ({ cniVersion: "1.1.0" }), del: async () => {}, check: async () => {}, status: async () => {},
      gc: async () => void calls.push("gc"),
    };
    expect((await gc(fake, {})).code).toBe(1);
    expect((await gc(fake, { "cni.dev/attachments": {} })).code).toBe(1);
    expect(calls).toEqual([]);
  });

  it("hands the plugin the list, typed, from either key", async () => {
    const got: (readonly unknown[])[] = [];
    const fake: Plugin = {
      name: "fake", supportedVersions: SUPPORTED_VERSIONS,
      add: async () => ({ cniVersion: "1.1.0" }), del: async () => {}, check: async () => {}, status: async () => {},
      gc: async (a: GcArgs) => void got.push(a.validAttachments),
    };
    expect((await gc(fake, { "cni.dev/valid-attachments": [A] })).code).toBe(0);
    expect((await gc(fake, { "cni.dev/attachments": [B] })).code).toBe(0);
    expect(got).toEqual([[A], [B]]);
  });
});
