// loopback in real namespaces, side by side with the Go reference (/usr/lib/cni/loopback): the
// same calls on fresh namespaces (lo down, no address, as a runtime creates them) must leave the
// same kernel state and succeed or fail alike. Differences are deliberate and asserted exactly:
// our old-version results follow the spec (the reference prints the 1.0 shape under any
// version), error codes are specific, DEL leaves lo up, and GC/STATUS (spec 1.1.0) exist.
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { NsScope, deleteNetns, isRoot, uniqueName, type Netns } from "../helpers/netns";
import { REFERENCE_DIR, type ExecResult, execPlugin, haveReference, ourBinDir, usingBuiltBinary } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());

const canRun = isRoot() && usingBuiltBinary();
const SIDES = { ours: () => ourBinDir(), reference: () => REFERENCE_DIR } as const;
type Side = keyof typeof SIDES;

/** A namespace exactly as `ip netns add` (and a runtime) makes it: lo down, no addresses. */
function freshNetns(): string {
  const name = uniqueName("lo");
  execFileSync("ip", ["netns", "add", name]);
  scope.onCleanup(() => deleteNetns(name));
  return `/var/run/netns/${name}`;
}

function loState(nsPath: string): { up: boolean; addrs: string[] } {
  const out = execFileSync("nsenter", [`--net=${nsPath}`, "ip", "-j", "addr", "show", "lo"], { encoding: "utf8" });
  const [lo] = JSON.parse(out) as { flags: string[]; addr_info: { local: string; prefixlen: number }[] }[];
  return { up: lo!.flags.includes("UP"), addrs: lo!.addr_info.map((a) => `${a.local}/${a.prefixlen}`) };
}

function call(side: Side, node: Netns, command: string, netns: string, conf: object, extra: { ifname?: string } = {}): ExecResult {
  return execPlugin("loopback", { command, config: conf, containerID: "lo-ctr", netns, ifname: extra.ifname ?? "lo", node, binDir: SIDES[side]() });
}

const conf = (v: string, more: object = {}) => ({ cniVersion: v, name: "lonet", type: "loopback", ...more });
const LO_1_0 = (sandbox: string) => ({
  interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox }],
  ips: [
    { interface: 0, address: "127.0.0.1/8" },
    { interface: 0, address: "::1/128" },
  ],
  dns: {},
});
const UP = { up: true, addrs: ["127.0.0.1/8", "::1/128"] };

describe.skipIf(!canRun || !haveReference("loopback"))("loopback against the Go reference", () => {
  for (const version of ["0.2.0", "0.3.1", "0.4.0", "1.0.0"]) {
    it(`[${version}] ADD brings lo up with the same addresses; CHECK and DEL succeed alike; DEL leaves ours up`, () => {
      const node = scope.netns("lon");
      const run = (side: Side) => {
        const ns = freshNetns();
        expect(loState(ns)).toEqual({ up: false, addrs: [] });
        const add = call(side, node, "ADD", ns, conf(version), { ifname: "eth0" }); // CNI_IFNAME is ignored
        const afterAdd = loState(ns);
        const check = version >= "0.4.0" ? call(side, node, "CHECK", ns, conf(version, { prevResult: add.json })).code : 0;
        const del = call(side, node, "DEL", ns, conf(version, { prevResult: add.json }));
        return { ns, add, afterAdd, check, del: del.code, afterDel: loState(ns) };
      };
      const ours = run("ours");
      const ref = run("reference");
      expect([ours.add.code, ref.add.code]).toEqual([0, 0]);
      expect(ours.afterAdd).toEqual(UP);
      expect(ref.afterAdd).toEqual(UP);
      expect([ours.check, ours.del, ref.check, ref.del]).toEqual([0, 0, 0, 0]);
      expect(ours.afterDel).toEqual(UP);
      expect(ref.afterDel).toEqual({ up: false, addrs: ["127.0.0.1/8"] }); // the reference sets lo down
      // The reference prints the 1.0 shape under every version (no 0.4 "version" keys, no 0.2 ip4/ip6).
      expect(ref.add.json).toEqual({ cniVersion: version, ...LO_1_0(ref.ns) });
      if (version === "1.0.0") expect(ours.add.json).toEqual({ cniVersion: version, ...LO_1_0(ours.ns) });
      if (version === "0.2.0") expect(ours.add.json).toEqual({ cniVersion: version, ip4: { ip: "127.0.0.1/8" }, ip6: { ip: "::1/128" }, dns: {} });
      if (version === "0.3.1" || version === "0.4.0") {
        const want = LO_1_0(ours.ns);
        expect(ours.add.json).toEqual({ cniVersion: version, ...want, ips: [{ version: "4", ...want.ips[0] }, { version: "6", ...want.ips[1] }] });
      }
    });
  }

  it("both refuse a lo carrying a non-loopback address, and a namespace that does not exist", () => {
    const node = scope.netns("lon");
    for (const side of ["ours", "reference"] as const) {
      const ns = freshNetns();
      execFileSync("nsenter", [`--net=${ns}`, "ip", "addr", "add", "192.0.2.7/32", "dev", "lo"]);
      const r = call(side, node, "ADD", ns, conf("1.0.0"));
      expect(r.code).toBe(1);
      expect(r.json.msg).toBe('loopback interface found with non-loopback address "192.0.2.7"');
      expect(r.json.code).toBe(side === "ours" ? 105 : 999);
      // Ours refuses before touching lo; the reference has already brought it up.
      expect(loState(ns)).toEqual(side === "ours" ? { up: false, addrs: ["192.0.2.7/32"] } : { up: true, addrs: ["127.0.0.1/8", "192.0.2.7/32", "::1/128"] });
      const gone = call(side, node, "ADD", `/var/run/netns/${uniqueName("nx")}`, conf("1.0.0"));
      expect([gone.code, gone.json.code]).toEqual([1, side === "ours" ? 8 : 999]);
    }
  });

  it("both fail CHECK on a lo that is down, and succeed DEL on a deleted namespace and without one", () => {
    const node = scope.netns("lon");
    for (const side of ["ours", "reference"] as const) {
      const ns = freshNetns();
      const add = call(side, node, "ADD", ns, conf("1.0.0"));
      execFileSync("nsenter", [`--net=${ns}`, "ip", "link", "set", "lo", "down"]);
      const check = call(side, node, "CHECK", ns, conf("1.0.0", { prevResult: add.json }));
      expect([check.code, check.json.code, check.json.msg]).toEqual([1, side === "ours" ? 104 : 999, "loopback interface is down"]);
      deleteNetns(ns.split("/").pop()!);
      expect(call(side, node, "DEL", ns, conf("1.0.0", { prevResult: add.json })).code).toBe(0);
      const noNetns = call(side, node, "DEL", "", conf("1.0.0"));
      expect([noNetns.code, noNetns.stdout]).toEqual([0, ""]);
    }
  });
});

describe.skipIf(!canRun)("loopback (ours)", () => {
  it("passes a prevResult through unchanged, and still brings lo up", () => {
    const node = scope.netns("lon");
    const ns = freshNetns();
    const prev = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: ns }], ips: [{ interface: 0, address: "10.9.0.2/24" }], dns: {} };
    const r = call("ours", node, "ADD", ns, conf("1.0.0", { prevResult: prev }));
    expect(r.json).toEqual(prev);
    expect(loState(ns)).toEqual(UP);
  });

  it("CHECK notices an address of prevResult missing from lo", () => {
    const node = scope.netns("lon");
    const ns = freshNetns();
    const add = call("ours", node, "ADD", ns, conf("1.1.0"));
    expect(add.json).toEqual({ cniVersion: "1.1.0", ...LO_1_0(ns) });
    execFileSync("nsenter", [`--net=${ns}`, "ip", "addr", "del", "::1/128", "dev", "lo"]);
    const check = call("ours", node, "CHECK", ns, conf("1.1.0", { prevResult: add.json }));
    expect(check.json).toEqual({ cniVersion: "1.1.0", code: 104, msg: "lo lacks ::1/128", details: "prevResult reports them on lo" });
  });

  it("GC and STATUS (spec 1.1.0) succeed with nothing to do; a second ADD is idempotent", () => {
    const node = scope.netns("lon");
    const ns = freshNetns();
    const first = call("ours", node, "ADD", ns, conf("1.1.0"));
    const second = call("ours", node, "ADD", ns, conf("1.1.0"));
    expect(second.json).toEqual(first.json);
    const gc = execPlugin("loopback", { command: "GC", config: conf("1.1.0", { "cni.dev/valid-attachments": [] }), node, binDir: ourBinDir() });
    const status = execPlugin("loopback", { command: "STATUS", config: conf("1.1.0"), node, binDir: ourBinDir() });
    expect([gc.code, gc.stdout, status.code, status.stdout]).toEqual([0, "", 0, ""]);
    expect(loState(ns)).toEqual(UP);
  });
});
