// Pure parts of the bridge plugin: config validation, result shaping, masquerade scripts and VLAN
// ranges. No root, no kernel.
import { describe, expect, it } from "vitest";
import { parseNetConf } from "../../core/config";
import { CniError } from "../../core/errors";
import { parseBridgeConfig } from "../../plugins/bridge/config";
import {
  iptablesGcScript, iptablesSetupScript, iptablesTeardownScript, iptChainName, iptComment, nftComment, nftSetupScript, nftStaleRules,
  parseIptablesSave,
} from "../../plugins/bridge/masq";
import { portVlanSpecs, vlanRanges } from "../../plugins/bridge/veth";
import { defaultGatewayFor, nextIp, shapeLayer3 } from "../../plugins/bridge/result";
import { caught } from "../helpers/caught";

const parse = (extra: object, args: [string, string][] = []) => {
  const conf = parseNetConf(Buffer.from(JSON.stringify({ cniVersion: "1.0.0", name: "net", type: "bridge", ...extra })), "ADD");
  return parseBridgeConfig(conf, { args, ignoreUnknown: false });
};
const err = (fn: () => unknown) => caught<CniError>(fn);

describe("bridge config", () => {
  it("has the reference defaults", () => {
    const c = parse({});
    expect(c).toMatchObject({
      bridge: "cni0", isGateway: false, isDefaultGateway: false, forceAddress: false, ipMasq: false, hairpinMode: false,
      promiscMode: false, vlan: 0, vlanTrunk: [], preserveDefaultVlan: true, macspoofchk: false, enabledad: false,
      disableContainerInterface: false, portIsolation: false,
    });
    expect(c.mtu).toBeUndefined();
    expect(c.ipMasqBackend).toBeUndefined();
  });

  it("isDefaultGateway implies isGateway; keys fold case like Go", () => {
    expect(parse({ IsDefaultGateway: true }).isGateway).toBe(true);
    expect(parse({ BRIDGE: "br9" }).bridge).toBe("br9");
  });

  it.each([
    [{ ipMasqBackend: "pf" }, "ipMasqBackend"],
    [{ vlan: 4095 }, "vlan"],
    [{ vlan: -1 }, "vlan"],
    [{ hairpinMode: true, promiscMode: true }, "hairpinMode"],
    [{ mtu: 10 }, "mtu"],
    [{ mtu: "1500" }, "mtu"],
    [{ bridge: "b234567890123456" }, "bridge"],
    [{ bridge: "a/b" }, "bridge"],
    [{ vlanTrunk: [{ minID: 10 }] }, "vlanTrunk[0]"],
    [{ vlanTrunk: [{ minID: 20, maxID: 10 }] }, "vlanTrunk[0]"],
    [{ vlanTrunk: [{ id: 0 }] }, "vlanTrunk[0].id"],
    [{ vlanTrunk: {} }, "vlanTrunk"],
    [{ ipam: { type: "host-local" }, disableContainerInterface: true }, "disableContainerInterface"],
    [{ isGateway: true, vlan: 100, bridge: "abcdefghijkl" }, "bridge"],
    [{ runtimeConfig: { mac: "zz:zz" } }, "runtimeConfig.mac"],
    [{ runtimeConfig: { mac: "01:00:5e:00:00:01" } }, "runtimeConfig.mac"],
    [{ isGateway: "yes" }, "isGateway"],
  ])("refuses %j with code 7 naming %s", (extra, fieldName) => {
    const e = err(() => parse(extra));
    expect(e.code).toBe(7);
    expect(e.msg).toContain(`"${fieldName}"`);
  });

  it("collects trunk VLANs sorted and de-duplicated", () => {
    expect(parse({ vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 202 }, { id: 201 }] }).vlanTrunk).toEqual([101, 200, 201, 202]);
  });

  it("takes the MAC from runtimeConfig, then args.cni, then CNI_ARGS", () => {
    const env: [string, string][] = [["MAC", "02:00:00:00:00:03"]];
    expect(parse({}, env).mac).toBe("02:00:00:00:00:03");
    expect(parse({ args: { cni: { mac: "02:00:00:00:00:02" } } }, env).mac).toBe("02:00:00:00:00:02");
    expect(parse({ args: { cni: { mac: "02:00:00:00:00:02" } }, runtimeConfig: { mac: "02-00-00-00-00-01" } }, env).mac).toBe("02:00:00:00:00:01");
    expect(err(() => parse({}, [["FOO", "1"]])).code).toBe(4);
  });

  it("uses dns from the config only when some field is set", () => {
    expect(parse({ dns: {} }).dns).toBeUndefined();
    expect(parse({ dns: { nameservers: ["10.0.0.53"] } }).dns).toEqual({ nameservers: ["10.0.0.53"] });
  });
});

describe("result shaping (calcGateways)", () => {
  it("computes gateways, the default route per family, and the bridge addresses", () => {
    const l3 = shapeLayer3({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }, { address: "fd00::5/64" }] }, { isGateway: true, isDefaultGateway: true });
    expect(l3.ips).toEqual([
      { address: "10.1.2.3/24", gateway: "10.1.2.1", interface: 2 },
      { address: "fd00::5/64", gateway: "fd00::1", interface: 2 },
    ]);
    expect(l3.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.1.2.1" }, { dst: "::/0", gw: "fd00::1" }]);
    expect(l3.gateways).toEqual({ 4: ["10.1.2.1/24"], 6: ["fd00::1/64"] });
  });

  it("keeps an IPAM default route with a gateway and the IPAM's gateway", () => {
    const l3 = shapeLayer3(
      { cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.254" }], routes: [{ dst: "0.0.0.0/0", gw: "10.1.2.254" }] },
      { isGateway: true, isDefaultGateway: true },
    );
    expect(l3.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.1.2.254" }]);
    expect(l3.gateways[4]).toEqual(["10.1.2.254/24"]);
  });

  it("without isGateway there is no gateway and no bridge address", () => {
    const l3 = shapeLayer3({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }] }, { isGateway: false, isDefaultGateway: false });
    expect(l3.ips[0]!.gateway).toBeUndefined();
    expect(l3.gateways).toEqual({ 4: [], 6: [] });
  });

  it("next address arithmetic carries", () => {
    expect(nextIp("10.0.0.255")).toBe("10.0.1.0");
    expect(defaultGatewayFor("fd00:1::abcd/48")).toBe("fd00:1::1");
  });
});

describe("masquerade rules", () => {
  const chain = iptChainName("mynet", "ctr1");
  const comment = iptComment("mynet", "ctr1");

  it("names chains and comments like the reference", () => {
    expect(chain).toMatch(/^CNI-[0-9a-f]{24}$/);
    expect(comment).toBe('name: "mynet" id: "ctr1"');
    expect(nftComment("mynet", "eth0", "ctr1")).toMatch(/^[0-9a-f]{16}-[0-9a-f]{16}, net: mynet, if: eth0, id: ctr1$/);
  });

  it("builds one iptables-restore script with all ACCEPTs before the MASQUERADE", () => {
    const s = iptablesSetupScript(parseIptablesSave("*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"), 4, ["10.1.0.5/24", "10.2.0.5/16"], { network: "mynet", containerID: "ctr1" });
    const lines = s.trim().split("\n");
    expect(lines[0]).toBe("*nat");
    expect(lines[1]).toBe(`:${chain} - [0:0]`);
    expect(lines[2]).toContain("-d 10.1.0.0/24");
    expect(lines[3]).toContain("-d 10.2.0.0/16");
    expect(lines[4]).toContain("! -d 224.0.0.0/4");
    expect(lines[5]).toBe(`-A POSTROUTING -s 10.1.0.5/32 -m comment --comment "name: \\"mynet\\" id: \\"ctr1\\"" -j ${chain}`);
    expect(lines.at(-1)).toBe("COMMIT");
  });

  const saved = (id: string) => `*nat
:POSTROUTING ACCEPT [0:0]
:${iptChainName("mynet", id)} - [0:0]
-A POSTROUTING -s 10.1.0.5/32 -m comment --comment "name: \\"mynet\\" id: \\"${id}\\"" -j ${iptChainName("mynet", id)}
COMMIT
`;

  it("tears down by chain name, without the addresses", () => {
    const s = iptablesTeardownScript(parseIptablesSave(saved("ctr1")), { network: "mynet", containerID: "ctr1" });
    expect(s).toContain(`-D POSTROUTING -s 10.1.0.5/32`);
    expect(s).toContain(`-X ${chain}`);
    expect(iptablesTeardownScript(parseIptablesSave("*nat\nCOMMIT\n"), { network: "mynet", containerID: "ctr1" })).toBe("");
  });

  it("GC removes only this network's chains of invalid containers", () => {
    const all = parseIptablesSave(saved("ctr1"));
    expect(iptablesGcScript(all, "mynet", new Set(["ctr1"]))).toBe("");
    expect(iptablesGcScript(all, "mynet", new Set())).toContain(`-X ${chain}`);
    expect(iptablesGcScript(all, "othernet", new Set())).toBe("");
  });

  it("nftables: setup script and GC selection by comment", () => {
    const s = nftSetupScript([{ handle: 7 }], ["fd00::5/64"], "c");
    expect(s).toContain("delete rule inet cni_plugins_masquerade masq_checks handle 7");
    expect(s).toContain("ip6 saddr == fd00::5 ip6 daddr != fd00::/64 masquerade");
    const keep = nftComment("n", "eth0", "a");
    const drop = nftComment("n", "eth0", "b");
    const other = nftComment("m", "eth0", "b");
    const rules = [{ handle: 1, comment: keep }, { handle: 2, comment: drop }, { handle: 3, comment: other }];
    expect(nftStaleRules(rules, "n", [{ containerID: "a", ifname: "eth0" }]).map((r) => r.handle)).toEqual([2]);
  });
});

describe("VLAN ranges", () => {
  it("compresses contiguous ids", () => {
    expect(vlanRanges([5, 1, 2, 3, 7, 8])).toEqual([[1, 3], [5, 5], [7, 8]]);
  });
  it("puts the access VLAN as PVID + untagged and the trunk (minus the access VLAN) as tagged ranges", () => {
    expect(portVlanSpecs({ vlan: 0, vlanTrunk: [] })).toEqual([]);
    expect(portVlanSpecs({ vlan: 5, vlanTrunk: [] })).toEqual([{ vid: 5, pvid: true, untagged: true }]);
    expect(portVlanSpecs({ vlan: 5, vlanTrunk: [3, 4, 5, 6, 9] })).toEqual([
      { vid: 5, pvid: true, untagged: true },
      { vid: 3, vidEnd: 4 },
      { vid: 6 },
      { vid: 9 },
    ]);
  });
});
