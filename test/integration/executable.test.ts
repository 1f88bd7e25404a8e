// The built single executable (dist/tscni) as runtimes see it: multi-call by name, no node on
// PATH, an empty environment, CNI errors on stdout with a non-zero exit, and `install`.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PLUGIN_NAMES } from "../../cli/registry";
import { NsScope } from "../helpers/netns";
import { DIST_BIN } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());

beforeAll(() => {
  if (!fs.existsSync(DIST_BIN)) throw new Error("dist/tscni missing: run `npm run build` first");
});

function runAs(name: string, env: Record<string, string>, input = "", args: string[] = []) {
  const dir = scope.tmpdir("tscni-exe-");
  const bin = path.join(dir, name);
  fs.linkSync(DIST_BIN, bin);
  // env: exactly what is given; no PATH, so no node could be found even if it were needed.
  const r = spawnSync(bin, args, { env, input, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("single executable", () => {
  for (const name of PLUGIN_NAMES) {
    it(`answers VERSION as ${name} with an empty environment otherwise`, () => {
      const r = runAs(name, { CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).supportedVersions).toEqual(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
    });
  }

  it("answers bad input with a CNI error on stdout, non-zero exit, no stack trace", () => {
    const cases: [Record<string, string>, string, number][] = [
      [{}, "{}", 4],
      [{ CNI_COMMAND: "NOPE" }, "{}", 4],
      [{ CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: "/x" }, "{oops", 6],
      [{ CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "a234567890123456", CNI_PATH: "/x" }, '{"cniVersion":"1.0.0","name":"n","type":"bridge"}', 4],
      [{ CNI_COMMAND: "CHECK", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: "/x" }, '{"cniVersion":"0.3.1","name":"n","type":"bridge"}', 1],
    ];
    for (const [env, input, code] of cases) {
      const r = runAs("bridge", env, input);
      expect(r.code).not.toBe(0);
      expect(JSON.parse(r.stdout).code).toBe(code);
      expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("refuses a config larger than 4 MiB with a decoding error", () => {
    const big = JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "bridge", pad: "x".repeat(16 << 20) });
    const r = runAs("bridge", { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: "/x" }, big);
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 6, msg: "network config too large" });
  });

  it("has a human-facing command line with --help and --version", () => {
    const help = spawnSync(DIST_BIN, ["--help"], { env: {}, encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/install/);
    const version = spawnSync(DIST_BIN, ["--version"], { env: {}, encoding: "utf8" });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = spawnSync(DIST_BIN, ["frobnicate"], { env: {}, encoding: "utf8" });
    expect(bad.status).toBe(2);
  });

  it("installs itself and one shim hard-linked under every plugin name", () => {
    const dir = path.join(scope.tmpdir("tscni-inst-"), "bin");
    const r = spawnSync(DIST_BIN, ["install", "--dir", dir], { env: {}, encoding: "utf8" });
    expect(r.status).toBe(0);
    const inodes = PLUGIN_NAMES.map((n) => fs.statSync(path.join(dir, n)).ino);
    expect(new Set(inodes).size).toBe(1);
    const layout = ["bridge", "ebpf-bandwidth", "host-local", "loopback", "tscni"];
    expect(fs.readdirSync(dir).sort()).toEqual(layout);
    const v = spawnSync(path.join(dir, "host-local"), [], { env: { CNI_COMMAND: "VERSION" }, input: "{}", encoding: "utf8" });
    expect(JSON.parse(v.stdout).cniVersion).toBe("1.1.0");
    // Re-installing over a live install is atomic and leaves no temporaries.
    expect(spawnSync(DIST_BIN, ["install", "--dir", dir], { env: {} }).status).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(layout);
  });
});
