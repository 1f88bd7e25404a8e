// loopback's pure parts (which addresses are loopback, the result, CHECK's comparison) and the
// verbs that touch no kernel, through the real dispatcher.
import { describe, expect, it } from "vitest";
import { dispatch } from "../../core/skel";
import { plugin } from "../../plugins/loopback/index";
import { type LoAddr, assertOnlyLoopback, isLoopbackIp, loopbackResult, missingAddresses } from "../../plugins/loopback/result";

const V4: LoAddr = { family: 4, cidr: "127.0.0.1/8", address: "127.0.0.1" };
const V6: LoAddr = { family: 6, cidr: "::1/128", address: "::1" };
const NS = "/var/run/netns/c1";

async function call(env: Record<string, string>, conf: object) {
  let stdout = "";
  const code = await dispatch(plugin, { env, stdin: Buffer.from(JSON.stringify(conf)), stdout: (s) => (stdout += s), stderr: () => {} });
  return { code, stdout, json: stdout ? JSON.parse(stdout) : undefined };
}

describe("loopback addresses", () => {
  it("are 127/8, ::1 and 127/8 mapped into IPv6, as Go's IsLoopback says", () => {
    const yes = ["127.0.0.1", "127.255.255.254", "127.0.0.0", "::1", "::ffff:127.0.0.2", "0:0:0:0:0:0:0:1"];
    const no = ["128.0.0.1", "10.0.0.1", "::", "::2", "fe80::1", "::ffff:10.0.0.1", "1::1", "::127.0.0.1"];
    expect(yes.map(isLoopbackIp)).toEqual(yes.map(() => true));
    expect(no.map(isLoopbackIp)).toEqual(no.map(() => false));
  });

  it("a non-loopback address on lo is refused with code 105, naming it", () => {
    expect(() => assertOnlyLoopback([V4, V6])).not.toThrow();
    expect(() => assertOnlyLoopback([V4, { family: 4, cidr: "10.1.2.3/32", address: "10.1.2.3" }])).toThrow(
      expect.objectContaining({ code: 105, msg: 'loopback interface found with non-loopback address "10.1.2.3"' }),
    );
  });
});

describe("loopback result", () => {
  it("reports lo with the all-zero MAC and the first address of each family", () => {
    const extra: LoAddr = { family: 4, cidr: "127.0.0.2/8", address: "127.0.0.2" };
    expect(loopbackResult("1.0.0", NS, [V6, V4, extra])).toEqual({
      cniVersion: "1.0.0",
      interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: NS }],
      ips: [
        { interface: 0, address: "127.0.0.1/8" },
        { interface: 0, address: "::1/128" },
      ],
    });
  });

  it("has no ips when lo has no address (IPv4 and IPv6 both disabled)", () => {
    expect(loopbackResult("1.0.0", NS, [])).toEqual({ cniVersion: "1.0.0", interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: NS }] });
  });

  it("CHECK misses exactly the addresses prevResult reports on lo that are gone", () => {
    const prev = loopbackResult("1.0.0", NS, [V4, V6]);
    expect(missingAddresses(prev, NS, [V4, V6])).toEqual([]);
    expect(missingAddresses(prev, NS, [V6])).toEqual(["127.0.0.1/8"]);
    expect(missingAddresses(prev, NS, [])).toEqual(["127.0.0.1/8", "::1/128"]);
    // IPv6 written differently is the same address.
    expect(missingAddresses({ ...prev, ips: [{ interface: 0, address: "0::0001/128" }] }, NS, [V6])).toEqual([]);
    // Another plugin's interfaces (a passed-through prevResult) are not lo's business.
    const eth0 = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: NS }], ips: [{ interface: 0, address: "10.0.0.2/24" }] };
    expect(missingAddresses(eth0, NS, [V4])).toEqual([]);
    expect(missingAddresses(undefined, NS, [])).toEqual([]);
  });
});

describe("loopback verbs without a kernel", () => {
  const base = { CNI_CONTAINERID: "c1", CNI_IFNAME: "lo", CNI_PATH: "/opt/cni/bin" };
  const conf = (v: string) => ({ cniVersion: v, name: "lo", type: "loopback" });

  it("DEL without a netns, GC and STATUS succeed silently", async () => {
    for (const [env, v] of [[{ ...base, CNI_COMMAND: "DEL" }, "1.0.0"], [{ CNI_COMMAND: "GC", CNI_PATH: "/x" }, "1.1.0"], [{ CNI_COMMAND: "STATUS", CNI_PATH: "/x" }, "1.1.0"]] as const) {
      // GC needs its list of attachments to keep, as for every plugin (test/unit/gc-policy.test.ts).
      const c = env.CNI_COMMAND === "GC" ? { ...conf(v), "cni.dev/valid-attachments": [] } : conf(v);
      expect(await call(env, c)).toEqual({ code: 0, stdout: "", json: undefined });
    }
  });

  it("refuses ADD without CNI_NETNS (4), STATUS below 1.1.0 (1), and a config that is not JSON (6)", async () => {
    // Environment errors come before the config is read: they carry our newest version.
    expect((await call({ ...base, CNI_COMMAND: "ADD" }, conf("1.0.0"))).json).toEqual({ cniVersion: "1.1.0", code: 4, msg: "required env variables [CNI_NETNS] missing" });
    expect((await call({ CNI_COMMAND: "STATUS", CNI_PATH: "/x" }, conf("1.0.0"))).json.code).toBe(1);
    let out = "";
    const code = await dispatch(plugin, { env: { ...base, CNI_COMMAND: "ADD", CNI_NETNS: NS }, stdin: Buffer.from("{oops"), stdout: (s) => (out += s), stderr: () => {} });
    expect([code, JSON.parse(out).code]).toEqual([1, 6]);
  });

  it("VERSION lists 0.1.0 to 1.1.0", async () => {
    expect((await call({ CNI_COMMAND: "VERSION" }, conf("1.0.0"))).json).toEqual({ cniVersion: "1.0.0", supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  });
});
