// The mode must not change any result or error byte for byte (issue #12): the same calls, made
// through the resident daemon and through the fallback, in twin node namespaces with twin state,
// print the same stdout and stderr and exit with the same code. Only what is random by nature
// (MAC addresses, host veth names) and the per-run paths are normalised before comparing.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Netns, NsScope, isRoot } from "../helpers/netns";
import { DIST_BIN, usingBuiltBinary } from "../helpers/plugin";
import { until } from "../helpers/wait";
import { privateBpffs } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";

interface Side {
  mode: "resident" | "fallback";
  dir: string;
  node: Netns;
  ctr: Netns;
  dataDir: string;
  pinRoot: string;
}

function side(mode: Side["mode"]): Side {
  const dir = scope.tmpdir(`tscni-eq-${mode}-`);
  expect(spawnSync(DIST_BIN, ["install", "--dir", dir], { env: { PATH } }).status).toBe(0);
  return { mode, dir, node: scope.netns("eqn"), ctr: scope.netns("eqc"), dataDir: scope.tmpdir("tscni-eqdata-"), pinRoot: privateBpffs(scope) };
}

interface Call {
  plugin: string;
  env: Record<string, string>;
  stdin: (s: Side, prev: any) => string;
}

function run(s: Side, c: Call, prev: any) {
  const env: Record<string, string> = { PATH, ...c.env };
  for (const [k, v] of Object.entries(env)) env[k] = v.replace("@NETNS@", s.ctr.path).replace("@BIN@", s.dir);
  if (s.mode === "fallback") env.TSCNI_NO_DAEMON = "1";
  const r = spawnSync("nsenter", [`--net=${s.node.path}`, "--", path.join(s.dir, c.plugin)], { input: c.stdin(s, prev), env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Per-side paths and random-by-nature values become placeholders. */
function normalise(s: Side, text: string): string {
  return text
    .replaceAll(s.ctr.path, "@NETNS@")
    .replaceAll(s.dataDir, "@DATA@")
    .replaceAll(s.pinRoot, "@PINS@")
    .replaceAll(s.dir, "@BIN@")
    .replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/g, "@MAC@")
    .replace(/veth[0-9a-f]{8}/g, "@VETH@");
}

const net = (s: Side, version: string, extra: Record<string, unknown> = {}) => ({
  cniVersion: version, name: "eqnet", type: "bridge", bridge: "eqbr0", isGateway: true,
  ipam: { type: "host-local", dataDir: s.dataDir, ranges: [[{ subnet: "10.69.0.0/24" }]] }, ...extra,
});
const cni = (cmd: string, id = "eq1", ifname = "eth0") => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: "@NETNS@", CNI_IFNAME: ifname, CNI_PATH: "@BIN@" });
const bw = (s: Side, prev: any, version = "1.0.0") =>
  JSON.stringify({ cniVersion: version, name: "eqnet", type: "ebpf-bandwidth", pinRoot: s.pinRoot, ingressRate: 10_000_000, ingressBurst: 1 << 20, egressRate: 10_000_000, egressBurst: 1 << 20, prevResult: prev });

/** A session of calls; each ADD's stdout becomes the `prev` of the calls after it. */
const SESSION: Call[] = [
  { plugin: "bridge", env: { CNI_COMMAND: "VERSION" }, stdin: () => "" },
  { plugin: "host-local", env: { CNI_COMMAND: "VERSION" }, stdin: () => JSON.stringify({ cniVersion: "0.4.0" }) },
  { plugin: "bridge", env: cni("ADD"), stdin: () => "{not json" },
  { plugin: "bridge", env: { ...cni("ADD"), CNI_COMMAND: "" }, stdin: (s) => JSON.stringify(net(s, "1.0.0")) },
  { plugin: "bridge", env: { ...cni("ADD"), CNI_COMMAND: "FROB" }, stdin: (s) => JSON.stringify(net(s, "1.0.0")) },
  { plugin: "bridge", env: cni("ADD", "eq1", "bad/name"), stdin: (s) => JSON.stringify(net(s, "1.0.0")) },
  { plugin: "bridge", env: cni("ADD"), stdin: (s) => JSON.stringify({ ...net(s, "1.0.0"), name: undefined }) },
  { plugin: "bridge", env: cni("ADD"), stdin: (s) => JSON.stringify(net(s, "9.9.9")) },
  { plugin: "bridge", env: cni("ADD"), stdin: (s) => JSON.stringify(net(s, "1.0.0")) },
  { plugin: "bridge", env: cni("CHECK"), stdin: (s, prev) => JSON.stringify({ ...net(s, "1.0.0"), prevResult: prev }) },
  { plugin: "bridge", env: cni("CHECK"), stdin: (s, prev) => JSON.stringify({ ...net(s, "0.3.1"), prevResult: prev }) },
  { plugin: "ebpf-bandwidth", env: cni("ADD"), stdin: (s, prev) => bw(s, prev) },
  { plugin: "ebpf-bandwidth", env: cni("CHECK"), stdin: (s, prev) => bw(s, prev) },
  { plugin: "ebpf-bandwidth", env: cni("ADD"), stdin: (s) => bw(s, undefined) },
  { plugin: "host-local", env: cni("ADD", "eq2"), stdin: (s) => JSON.stringify(net(s, "0.3.1")) },
  { plugin: "host-local", env: cni("ADD", "eq2"), stdin: (s) => JSON.stringify({ ...net(s, "1.0.0"), ipam: { type: "host-local", dataDir: s.dataDir, ranges: [[{ subnet: "10.69.0.0/33" }]] } }) },
  { plugin: "bridge", env: { CNI_COMMAND: "STATUS", CNI_PATH: "@BIN@" }, stdin: (s) => JSON.stringify(net(s, "1.1.0")) },
  { plugin: "bridge", env: { CNI_COMMAND: "GC", CNI_PATH: "@BIN@" }, stdin: (s) => JSON.stringify({ ...net(s, "1.1.0"), "cni.dev/valid-attachments": [{ containerID: "eq1", ifname: "eth0" }] }) },
  { plugin: "ebpf-bandwidth", env: cni("DEL"), stdin: (s, prev) => bw(s, prev) },
  { plugin: "bridge", env: cni("DEL"), stdin: (s, prev) => JSON.stringify({ ...net(s, "1.0.0"), prevResult: prev }) },
  { plugin: "bridge", env: cni("DEL"), stdin: (s) => JSON.stringify(net(s, "1.0.0")) },
  { plugin: "host-local", env: cni("DEL", "eq2"), stdin: (s) => JSON.stringify(net(s, "0.3.1")) },
];

describe.skipIf(!canRun)("resident and fallback answer alike", () => {
  it(`${SESSION.length} calls — results, errors, exit codes — byte for byte`, async () => {
    const resident = side("resident");
    const fallback = side("fallback");
    // Start the resident side's daemon, and make sure it is the one answering.
    run(resident, SESSION[0]!, undefined);
    await until(() => spawnSync("nsenter", [`--net=${resident.node.path}`, DIST_BIN, "daemon", "status"]).status === 0, "the resident side's daemon to answer", 10_000, 50);
    const prev: Record<Side["mode"], any> = { resident: undefined, fallback: undefined };
    const codes: (number | null)[] = [];
    for (const [i, c] of SESSION.entries()) {
      const out = Object.fromEntries(
        [resident, fallback].map((s) => {
          const r = run(s, c, prev[s.mode]);
          if (c.env.CNI_COMMAND === "ADD" && r.code === 0 && c.plugin !== "host-local") prev[s.mode] = JSON.parse(r.stdout);
          return [s.mode, { code: r.code, stdout: normalise(s, r.stdout), stderr: normalise(s, r.stderr) }];
        }),
      );
      expect(out.resident, `call ${i}: ${c.plugin} ${c.env.CNI_COMMAND}`).toEqual(out.fallback);
      codes.push(out.resident!.code);
    }
    // The session exercises both outcomes: each call's exit code as the plugins define it.
    expect(codes).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    const st = spawnSync("nsenter", [`--net=${resident.node.path}`, DIST_BIN, "daemon", "status"], { encoding: "utf8" });
    expect(Number(/, (\d+) requests,/.exec(st.stdout)?.[1])).toBe(SESSION.length);
    expect(fs.existsSync(path.join(fallback.dataDir, "eqnet"))).toBe(true);
  });
});
