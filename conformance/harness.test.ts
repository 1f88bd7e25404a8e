// The harness's own tests: the result/error validators on known documents, and a run against a
// deliberately broken plugin directory (testdata/liar), which must fail the right checks.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { selectChecks } from "./checks/index";
import { CONFORMANCE_DIR, Run, loadExpectations } from "./harness";
import { DEFAULT_FIXTURE } from "./run";
import { errorProblems, resultProblems } from "./shape";

const r100 = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", mac: "aa:bb:cc:dd:ee:ff", sandbox: "/var/run/netns/x" }],
  ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1", interface: 0 }],
  routes: [{ dst: "0.0.0.0/0" }],
  dns: {},
};

describe("shape validators", () => {
  it.each([
    ["valid 1.0.0", r100, "1.0.0", []],
    ["version field in 1.0.0", { ...r100, ips: [{ ...r100.ips[0], version: "4" }] }, "1.0.0", ["ips[0].version was removed in 1.0.0"]],
    ["missing version field in 0.4.0", { ...r100, cniVersion: "0.4.0" }, "0.4.0", ['ips[0].version must be "4" in 0.4.0']],
    ["wrong cniVersion", r100, "1.1.0", ['cniVersion "1.0.0" differs from the requested 1.1.0']],
    ["interface index out of range", { ...r100, ips: [{ address: "10.1.2.3/24", interface: 3 }] }, "1.0.0", ["ips[0].interface 3 points past interfaces"]],
    ["bad CIDR", { ...r100, ips: [{ address: "10.1.2.3", interface: 0 }] }, "1.0.0", ['ips[0].address "10.1.2.3" is not CIDR']],
    ["route mtu before 1.1.0", { ...r100, routes: [{ dst: "0.0.0.0/0", mtu: 1400 }] }, "1.0.0", ["result: routes[0].mtu is a 1.1.0 field, not valid in 1.0.0"]],
    ["route mtu in 1.1.0", { ...r100, cniVersion: "1.1.0", routes: [{ dst: "0.0.0.0/0", mtu: 1400 }] }, "1.1.0", []],
    ["0.2.0 result", { cniVersion: "0.2.0", ip4: { ip: "10.1.2.3/24", gateway: "10.1.2.1" }, dns: {} }, "0.2.0", []],
    ["0.2.0 with ips", { cniVersion: "0.2.0", ip4: { ip: "10.1.2.3/24" }, ips: [] }, "0.2.0", ["ips is not part of the 0.2.0 result"]],
  ])("%s", (_name, doc, version, problems) => {
    expect(resultProblems(doc, version as string)).toEqual(problems);
  });

  it("errors", () => {
    expect(errorProblems({ code: 7, msg: "bad", details: "x" })).toEqual([]);
    expect(errorProblems({ code: "7", msg: 1 })).toHaveLength(2);
    expect(errorProblems(undefined)).toEqual(["stdout is not a JSON error object"]);
  });
});

describe.skipIf(process.getuid?.() !== 0)("harness against a non-conforming plugin", () => {
  it("fails what is wrong and passes what is right", async () => {
    const run = new Run({
      target: { label: "liar", dir: path.join(CONFORMANCE_DIR, "testdata/liar"), aliases: {} },
      checks: selectChecks(["version.supported", "version.echo@1.0.0", "env.missing-command", "lifecycle.add@1.0.0", "lifecycle.add@0.4.0", "gc.accepts"]),
      fixture: DEFAULT_FIXTURE,
      expectations: loadExpectations(),
    });
    const results = Object.fromEntries((await run.runAll()).map((r) => [r.id, r]));
    expect(results["version.supported"]!.status).toBe("pass");
    expect(results["version.echo@1.0.0"]!.status).toBe("pass");
    expect(results["env.missing-command"]!.status).toBe("fail");
    expect(results["lifecycle.add@1.0.0"]!.status).toBe("fail");
    expect(results["lifecycle.add@1.0.0"]!.detail).toMatch(/version was removed in 1.0.0/);
    expect(results["lifecycle.add@0.4.0"]!.status).toBe("skip"); // not claimed
    expect(results["gc.accepts"]!.status).toBe("fail");
  });
});
