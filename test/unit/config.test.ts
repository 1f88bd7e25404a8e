import { describe, expect, it } from "vitest";
import { parseCniArgs, pickArgs } from "../../core/args";
import { parseNetConf, parseValidAttachments } from "../../core/config";
import { CniError } from "../../core/errors";
import { field, optInt, optString } from "../../core/json";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as CniError).code;
  }
  return 0;
};

describe("Go-style key folding", () => {
  it("matches keys case-insensitively, the last folding-equal key winning", () => {
    expect(field({ bandWidth: 1 }, "bandwidth")).toBe(1);
    expect(field({ name: "a", NAME: "b" }, "name")).toBe("b");
    expect(field({ NAME: "b", name: "a" }, "name")).toBe("a");
    expect(field({ x: null }, "x")).toBeUndefined();
  });

  it("type errors are config errors naming the field path", () => {
    expect(() => optString({ bridge: 5 }, "bridge")).toThrow(/"bridge"/);
    expect(code(() => optInt({ mtu: "1500" }, "mtu"))).toBe(7);
    expect(code(() => optInt({ mtu: 1.5 }, "mtu"))).toBe(7);
    expect(code(() => optInt({ mtu: 1e300 }, "mtu"))).toBe(7);
    expect(code(() => optInt({ mtu: 70000 }, "mtu", "mtu", 68, 65535))).toBe(7);
  });
});

describe("parseNetConf", () => {
  const buf = (o: object) => Buffer.from(JSON.stringify(o));
  it("defaults a missing cniVersion to 0.1.0 as libcni does", () => {
    expect(parseNetConf(buf({ name: "n", type: "t" }), "ADD").cniVersion).toBe("0.1.0");
  });
  it("refuses versions the plugin does not claim", () => {
    expect(code(() => parseNetConf(buf({ cniVersion: "1.1.0", name: "n", type: "t" }), "ADD", ["0.4.0", "1.0.0"]))).toBe(1);
  });
  it("parses prevResult in the config's version", () => {
    const c = parseNetConf(buf({ cniVersion: "0.3.1", name: "n", type: "t", prevResult: { cniVersion: "0.3.1", ips: [{ version: "4", address: "10.0.0.2/24" }] } }), "ADD");
    expect(c.prevResult?.ips).toEqual([{ address: "10.0.0.2/24" }]);
  });
  it("prefers cni.dev/valid-attachments and rejects malformed lists (more in gc-policy.test.ts)", () => {
    const c = parseNetConf(buf({ cniVersion: "1.1.0", name: "n", type: "t", "cni.dev/valid-attachments": [{ containerID: "x", ifname: "eth0" }] }), "GC");
    expect(parseValidAttachments(c.raw)).toEqual([{ containerID: "x", ifname: "eth0" }]);
    expect(code(() => parseValidAttachments({ "cni.dev/valid-attachments": {} }))).toBe(7);
  });
});

describe("CNI_ARGS", () => {
  it("parses pairs and IgnoreUnknown", () => {
    expect(parseCniArgs("IgnoreUnknown=1;IP=10.0.0.5;K8S_POD_NAME=p")).toEqual({ ignoreUnknown: true, pairs: [["IP", "10.0.0.5"], ["K8S_POD_NAME", "p"]] });
    expect(parseCniArgs("")).toEqual({ ignoreUnknown: false, pairs: [] });
  });
  it("refuses unknown keys unless IgnoreUnknown", () => {
    expect(code(() => pickArgs(parseCniArgs("FOO=1"), ["IP"]))).toBe(4);
    expect([...pickArgs(parseCniArgs("IgnoreUnknown=true;FOO=1;ip=10.0.0.5"), ["IP"])]).toEqual([["IP", "10.0.0.5"]]);
  });
});
