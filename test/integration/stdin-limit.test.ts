// One stdin limit (core/limits.ts STDIN_LIMIT) for the shim, the daemon and the fallback: a call
// gets the same bytes on stdout whichever way it runs — through the shim to the daemon, through
// the shim's fallback (TSCNI_NO_DAEMON=1), or the executable exec'd directly as the plugin — at
// the limit, one byte over it, far over it (the shim replays exactly what it read), and for a
// large but valid configuration.
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { STDIN_LIMIT } from "../../core/limits";
import { daemonStatus, waitForDaemon } from "../helpers/mode";
import { type Netns, NsScope, isRoot } from "../helpers/netns";
import { paddedConfig } from "../helpers/padded";
import { DIST_BIN, execPlugin, installInto, usingBuiltBinary } from "../helpers/plugin";

const canRun = isRoot() && usingBuiltBinary();
const scope = new NsScope();
afterEach(() => scope.cleanup());

const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
const VERSION = { CNI_COMMAND: "VERSION" };
const ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
const printed = (v: unknown) => JSON.stringify(v, null, 4);
const tooLarge = (cniVersion: string) =>
  printed({ cniVersion, code: 6, msg: "network config too large", details: `stdin exceeds ${STDIN_LIMIT} bytes` });

type Way = "daemon" | "fallback" | "direct";
const WAYS: Way[] = ["daemon", "fallback", "direct"];

/** A node namespace, an install, and the node's daemon up (started by a first call). */
async function node(): Promise<{ dir: string; node: Netns }> {
  const dir = installInto(scope);
  const n = scope.netns("sl");
  expect(execPlugin("host-local", { command: "VERSION", binDir: dir, node: n, rawEnv: { PATH, ...VERSION }, config: "" }).code).toBe(0);
  await waitForDaemon(n.path);
  return { dir, node: n };
}

/** One call of host-local, the way given; what a runtime sees of it. */
function call(way: Way, t: { dir: string; node: Netns }, env: Record<string, string>, stdin: string): { code: number; stdout: string } {
  if (way === "direct") {
    // The multi-call executable is the plugin its argv[0] names. (A stdin longer than what it reads
    // leaves spawnSync an EPIPE, as it leaves the runtime one: not the plugin's answer.)
    const r = spawnSync(DIST_BIN, [], { argv0: "host-local", env: { PATH, ...env }, input: stdin, encoding: "utf8", maxBuffer: 1 << 20 });
    return { code: r.status ?? -1, stdout: r.stdout };
  }
  const rawEnv = { PATH, ...env, ...(way === "fallback" ? { TSCNI_NO_DAEMON: "1" } : {}) };
  const r = execPlugin("host-local", { command: env.CNI_COMMAND!, binDir: t.dir, node: t.node, rawEnv, config: stdin });
  return { code: r.code, stdout: r.stdout };
}

/** Each way's answer, and how many requests the daemon served meanwhile. */
function everyWay(t: { dir: string; node: Netns }, env: Record<string, string>, stdin: string) {
  const before = daemonStatus(t.node.path)!.served;
  const answers = Object.fromEntries(WAYS.map((w) => [w, call(w, t, env, stdin)]));
  return { answers, served: daemonStatus(t.node.path)!.served - before };
}

const same = (answer: { code: number; stdout: string }) => Object.fromEntries(WAYS.map((w) => [w, answer]));

describe.skipIf(!canRun)("one stdin limit for shim, daemon and fallback", () => {
  it("accepts a stdin of exactly STDIN_LIMIT bytes, the daemon serving it through the shim", async () => {
    const t = await node();
    const r = everyWay(t, VERSION, paddedConfig(STDIN_LIMIT, { cniVersion: "1.0.0" }).toString());
    expect(r.answers).toEqual(same({ code: 0, stdout: printed({ cniVersion: "1.0.0", supportedVersions: ALL_VERSIONS }) }));
    expect(r.served).toBe(1);
  });

  it("refuses STDIN_LIMIT + 1 bytes with code 6 in the config's version, the same bytes every way; the daemon is not asked", async () => {
    const t = await node();
    const r = everyWay(t, VERSION, paddedConfig(STDIN_LIMIT + 1, { cniVersion: "1.0.0" }).toString());
    expect(r.answers).toEqual(same({ code: 1, stdout: tooLarge("1.0.0") }));
    expect(r.served).toBe(0);
  });

  it("refuses a stdin far over the limit alike every way: the shim's fallback gets exactly the bytes it read", async () => {
    const t = await node();
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "s1", CNI_NETNS: "/nonexistent", CNI_IFNAME: "eth0", CNI_PATH: "/nonexistent" };
    // 20 MiB, more than the shim ever buffered (an earlier one gave up at 16 MiB and let the fallback
    // read on from there). Valid JSON as a whole, but not its first STDIN_LIMIT + 1 bytes: so the
    // error is in our newest version.
    const r = everyWay(t, env, paddedConfig(5 * STDIN_LIMIT, { cniVersion: "1.0.0", name: "snet", type: "host-local" }).toString());
    expect(r.answers).toEqual(same({ code: 1, stdout: tooLarge("1.1.0") }));
    expect(r.served).toBe(0);
  });

  it("gives a large but valid config (3 MiB) the same result every way, the daemon serving it through the shim", async () => {
    const t = await node();
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "s2", CNI_NETNS: "/nonexistent", CNI_IFNAME: "eth0", CNI_PATH: "/nonexistent" };
    const before = daemonStatus(t.node.path)!.served;
    const answers = WAYS.map((way) => {
      // Each way its own store (same path length, so the same padding): each gets the first address.
      const ipam = { type: "host-local", dataDir: scope.tmpdir("tscni-slim-"), ranges: [[{ subnet: "10.70.0.0/24" }]] };
      return call(way, t, env, paddedConfig(3 << 20, { cniVersion: "1.0.0", name: "snet", type: "bridge", ipam }).toString());
    });
    const want = { code: 0, stdout: printed({ cniVersion: "1.0.0", ips: [{ address: "10.70.0.2/24", gateway: "10.70.0.1" }], dns: {} }) };
    expect(answers).toEqual([want, want, want]);
    expect(daemonStatus(t.node.path)!.served - before).toBe(1);
  });
});
