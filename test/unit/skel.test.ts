// The dispatcher end to end without processes: environment, config, version gates, result
// conversion and the error wire format.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CniError, Code } from "../../core/errors";
import { STDIN_LIMIT } from "../../core/limits";
import type { CmdArgs, GcArgs, Plugin } from "../../core/plugin";
import { dispatch } from "../../core/skel";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { paddedConfig } from "../helpers/padded";

function fakePlugin(calls: CmdArgs[] = [], fail?: unknown): Plugin {
  const record = async (a: CmdArgs) => {
    calls.push(a);
    if (fail) throw fail;
  };
  return {
    name: "fake",
    supportedVersions: SUPPORTED_VERSIONS,
    add: async (a) => {
      await record(a);
      return {
        cniVersion: "1.1.0",
        interfaces: [{ name: "eth0", mac: "02:00:00:00:00:01", mtu: 1400, sandbox: a.netns }],
        ips: [{ address: "10.1.0.2/24", gateway: "10.1.0.1", interface: 0 }],
      };
    },
    del: record,
    check: record,
    gc: record,
    status: record,
  };
}

const baseEnv = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/var/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};
const conf = (extra: object = {}) => Buffer.from(JSON.stringify({ cniVersion: "1.0.0", name: "net1", type: "fake", ...extra }));

async function run(env: Record<string, string | undefined>, stdin: Buffer | string, plugin = fakePlugin()) {
  let stdout = "";
  const code = await dispatch(plugin, { env, stdin: Buffer.from(stdin), stdout: (s) => (stdout += s), stderr: () => {} });
  return { code, stdout, json: stdout ? JSON.parse(stdout) : undefined };
}

describe("bad input gets the right code", () => {
  const cases: [string, Record<string, string | undefined>, Buffer | string, number, RegExp][] = [
    ["no CNI_COMMAND", { ...baseEnv, CNI_COMMAND: undefined }, conf(), 4, /CNI_COMMAND/],
    ["unknown CNI_COMMAND", { ...baseEnv, CNI_COMMAND: "FROB" }, conf(), 4, /unknown CNI_COMMAND: FROB/],
    ["stdin not JSON", baseEnv, "{not json", 6, /unmarshal/],
    ["empty stdin", baseEnv, "", 6, /unmarshal/],
    ["stdin a JSON array", baseEnv, "[1,2]", 6, /unmarshal/],
    ["missing name", baseEnv, JSON.stringify({ cniVersion: "1.0.0", type: "fake" }), 7, /missing network name/],
    ["bad name", baseEnv, conf({ name: "../../etc" }), 7, /invalid characters/],
    ["missing type", baseEnv, JSON.stringify({ cniVersion: "1.0.0", name: "n" }), 7, /missing plugin type/],
    ["unsupported cniVersion", baseEnv, conf({ cniVersion: "9.9.9" }), 1, /incompatible CNI versions/],
    ["malformed cniVersion", baseEnv, conf({ cniVersion: "one" }), 1, /incompatible CNI versions/],
    ["CHECK with 0.3.1", { ...baseEnv, CNI_COMMAND: "CHECK" }, conf({ cniVersion: "0.3.1" }), 1, /does not allow CHECK/],
    ["GC with 1.0.0", { ...baseEnv, CNI_COMMAND: "GC" }, conf(), 1, /does not allow GC/],
    ["STATUS with 0.4.0", { ...baseEnv, CNI_COMMAND: "STATUS" }, conf({ cniVersion: "0.4.0" }), 1, /does not allow STATUS/],
    ["CNI_IFNAME of 16 bytes", { ...baseEnv, CNI_IFNAME: "a234567890123456" }, conf(), 4, /too long/],
    ["CNI_IFNAME with a slash", { ...baseEnv, CNI_IFNAME: "a/b" }, conf(), 4, /interface name/],
    ["CNI_IFNAME ..", { ...baseEnv, CNI_IFNAME: ".." }, conf(), 4, /interface name/],
    ["missing CNI_NETNS for ADD", { ...baseEnv, CNI_NETNS: undefined }, conf(), 4, /\[CNI_NETNS\] missing/],
    ["several missing", { CNI_COMMAND: "ADD" }, conf(), 4, /\[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH\] missing/],
    ["bad containerID", { ...baseEnv, CNI_CONTAINERID: "-bad id" }, conf(), 4, /invalid characters in containerID/],
    ["malformed CNI_ARGS", { ...baseEnv, CNI_ARGS: "IP=1=2" }, conf(), 4, /ARGS: invalid pair/],
    ["prevResult garbage", baseEnv, conf({ prevResult: { ips: "x" } }), 6, /prevResult/],
    ["runtimeConfig not an object", baseEnv, conf({ runtimeConfig: [1] }), 7, /runtimeConfig/],
  ];
  for (const [what, env, stdin, code, msg] of cases) {
    it(what, async () => {
      const calls: CmdArgs[] = [];
      const r = await run(env, stdin, fakePlugin(calls));
      expect(r.code).not.toBe(0);
      expect(r.json.code).toBe(code);
      expect(r.json.msg + " " + (r.json.details ?? "")).toMatch(msg);
      expect(typeof r.json.cniVersion).toBe("string");
      expect(calls).toHaveLength(0); // the plugin never ran
    });
  }
});

describe("dispatch", () => {
  it("VERSION lists every supported version", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, "");
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  });

  it("VERSION answers in the version asked on stdin when supported", async () => {
    expect((await run({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"0.3.1"}')).json.cniVersion).toBe("0.3.1");
    expect((await run({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"7.0.0"}')).json.cniVersion).toBe("1.1.0");
    expect((await run({ CNI_COMMAND: "VERSION" }, "garbage")).code).toBe(0);
  });

  it("ADD converts the result to the config's version", async () => {
    for (const v of SUPPORTED_VERSIONS) {
      const r = await run(baseEnv, conf({ cniVersion: v }));
      expect(r.code).toBe(0);
      expect(r.json.cniVersion).toBe(v);
      if (v === "0.1.0" || v === "0.2.0") expect(r.json.ip4.ip).toBe("10.1.0.2/24");
      else if (v.startsWith("0.")) expect(r.json.ips[0]).toEqual({ version: "4", interface: 0, address: "10.1.0.2/24", gateway: "10.1.0.1" });
      else expect(r.json.ips[0]).toEqual({ interface: 0, address: "10.1.0.2/24", gateway: "10.1.0.1" });
      expect(r.json.interfaces?.[0]?.mtu).toBe(v === "1.1.0" ? 1400 : undefined);
    }
  });

  it("DEL, CHECK, GC, STATUS print nothing on success", async () => {
    for (const [cmd, v] of [["DEL", "0.3.1"], ["CHECK", "0.4.0"], ["GC", "1.1.0"], ["STATUS", "1.1.0"]]) {
      const r = await run({ ...baseEnv, CNI_COMMAND: cmd }, conf({ cniVersion: v, ...(cmd === "GC" ? { "cni.dev/valid-attachments": [] } : {}) }));
      expect([cmd, r.code, r.stdout]).toEqual([cmd, 0, ""]);
    }
  });

  it("DEL does not need CNI_NETNS; GC and STATUS need neither container nor ifname", async () => {
    const calls: CmdArgs[] = [];
    expect((await run({ ...baseEnv, CNI_COMMAND: "DEL", CNI_NETNS: undefined }, conf(), fakePlugin(calls))).code).toBe(0);
    expect((await run({ CNI_COMMAND: "GC", CNI_PATH: "/x" }, conf({ cniVersion: "1.1.0", "cni.dev/valid-attachments": [] }), fakePlugin(calls))).code).toBe(0);
    expect((await run({ CNI_COMMAND: "STATUS", CNI_PATH: "/x" }, conf({ cniVersion: "1.1.0" }), fakePlugin(calls))).code).toBe(0);
    expect(calls.map((c) => c.command)).toEqual(["DEL", "GC", "STATUS"]);
  });

  it("passes typed input: Go-style key folding, prevResult, args, attachments", async () => {
    const calls: CmdArgs[] = [];
    const stdin = JSON.stringify({
      CNIVersion: "1.1.0",
      NAME: "net1",
      Type: "fake",
      RuntimeConfig: { bandWidth: { ingressRate: 1 } },
      args: { CNI: { ips: ["10.1.0.9"] } },
      prevResult: { cniVersion: "1.1.0", ips: [{ address: "10.1.0.9/24" }] },
      "cni.dev/attachments": [{ containerID: "a", ifname: "eth0" }],
    });
    await run({ ...baseEnv, CNI_COMMAND: "GC", CNI_ARGS: "IgnoreUnknown=1;IP=10.1.0.9" }, stdin, fakePlugin(calls));
    const a = calls[0]!;
    expect(a.conf.name).toBe("net1");
    expect(a.conf.cniVersion).toBe("1.1.0");
    expect(a.conf.runtimeConfig).toEqual({ bandWidth: { ingressRate: 1 } });
    expect(a.conf.argsCni).toEqual({ ips: ["10.1.0.9"] });
    expect(a.conf.prevResult?.ips?.[0]?.address).toBe("10.1.0.9/24");
    expect((a as GcArgs).validAttachments).toEqual([{ containerID: "a", ifname: "eth0" }]);
    expect(a.ignoreUnknown).toBe(true);
    expect(a.args).toEqual([["IP", "10.1.0.9"]]);
  });

  it("plugin errors keep their code; unexpected exceptions become 999 without a stack trace", async () => {
    const r1 = await run(baseEnv, conf(), fakePlugin([], new CniError(Code.AddressesExhausted, "no addresses", "range 10.1.0.0/30")));
    expect(r1.json).toEqual({ cniVersion: "1.0.0", code: 102, msg: "no addresses", details: "range 10.1.0.0/30" });
    const r2 = await run(baseEnv, conf(), fakePlugin([], new TypeError("x is undefined")));
    expect(r2.code).toBe(1);
    expect(r2.json.code).toBe(999);
    expect(r2.stdout).not.toMatch(/at .*\.ts:\d+/);
    const errnoErr = Object.assign(new Error("RTM_NEWLINK: File exists"), { code: "EEXIST", errno: 17 });
    const r3 = await run(baseEnv, conf(), fakePlugin([], errnoErr));
    expect(r3.json).toMatchObject({ code: 100, details: "EEXIST" });
  });
});

describe("stdin limit (core/limits.ts)", () => {
  const fields = { cniVersion: "1.0.0", name: "net1", type: "fake" };
  const tooLarge = (cniVersion: string) =>
    `{\n    "cniVersion": "${cniVersion}",\n    "code": 6,\n    "msg": "network config too large",\n    "details": "stdin exceeds 4194304 bytes"\n}`;

  it("runs the plugin on a stdin of exactly STDIN_LIMIT bytes", async () => {
    const calls: CmdArgs[] = [];
    const r = await run(baseEnv, paddedConfig(STDIN_LIMIT, fields), fakePlugin(calls));
    expect(r.code).toBe(0);
    expect(r.json.ips[0].address).toBe("10.1.0.2/24");
    expect(calls).toHaveLength(1);
  });

  it("answers STDIN_LIMIT + 1 bytes with code 6 in the config's version, without running the plugin", async () => {
    const calls: CmdArgs[] = [];
    const r = await run(baseEnv, paddedConfig(STDIN_LIMIT + 1, fields), fakePlugin(calls));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(tooLarge("1.0.0"));
    expect(calls).toHaveLength(0);
  });

  it("refuses it for VERSION too, and before looking at the environment", async () => {
    const big = paddedConfig(STDIN_LIMIT + 1, fields);
    for (const env of [{ CNI_COMMAND: "VERSION" }, {}, { ...baseEnv, CNI_IFNAME: "a/b" }]) {
      const r = await run(env, big);
      expect([r.code, r.stdout]).toEqual([1, tooLarge("1.0.0")]);
    }
  });

  it("answers from the first STDIN_LIMIT + 1 bytes only (all the shim and the fallback read)", async () => {
    const whole = paddedConfig(STDIN_LIMIT + 4096, fields); // valid JSON, but no path reads it all
    const r = await run(baseEnv, whole);
    expect(r.stdout).toBe(tooLarge("1.1.0")); // its first STDIN_LIMIT + 1 bytes are no JSON: our newest
    expect((await run(baseEnv, whole.subarray(0, STDIN_LIMIT + 1))).stdout).toBe(r.stdout);
  });
});

describe("debug log", () => {
  it("records the stack of an unexpected error in the log file, never on stdout", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-log-"));
    try {
      const log = path.join(dir, "debug.log");
      const r = await run({ ...baseEnv, TSCNI_DEBUG_LOG: log }, conf(), fakePlugin([], new TypeError("kaboom")));
      expect(r.json.code).toBe(999);
      const text = fs.readFileSync(log, "utf8");
      expect(text).toMatch(/fake ADD start/);
      expect(text).toMatch(/TypeError: kaboom\n\s+at /);
      const viaConfig = path.join(dir, "via-config.log");
      await run(baseEnv, conf({ debugLog: viaConfig }));
      expect(fs.readFileSync(viaConfig, "utf8")).toMatch(/fake ADD ok/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
