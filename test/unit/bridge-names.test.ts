// Bridge state keyed by names a runtime may send (issue #11), pure parts: masquerade comments cut
// to what iptables / nft keep, chains that concatenation twins ("ab"+"c" = "a"+"bc") or a pod's
// two interfaces on one network would share, GC telling long network names apart, and the MAC
// spoof-check names. The iptables scripts run against a small model of `iptables-restore
// --noflush` (below) that fails where iptables would (deleting a missing rule, a chain in use).
import { describe, expect, it } from "vitest";
import {
  cutBytes, iptAltChainName, iptChainComment, iptChainName, iptComment, iptablesGcScript, iptablesSetupScript, iptablesTeardownScript,
  legacySpoofNames, type MasqKey, nftComment, nftInstanceHash, nftStaleRules, parseIptablesSave, spoofChains, spoofComment, spoofKey,
  spoofKeyOf, splitSavedArgs,
} from "../../plugins/bridge/masq";
import { addressesOf } from "../../plugins/bridge/del";

/** The nat table as iptables-save prints it, changed by restore scripts the way iptables-restore --noflush does. */
class NatModel {
  chains: string[] = [];
  rules: string[] = [];

  apply(script: string): this {
    for (const line of script.split("\n")) {
      if (!line || line === "*nat" || line === "COMMIT") continue;
      const [op, chain, ...rest] = line.split(" ");
      const body = `-A ${chain} ${rest.join(" ")}`;
      if (op!.startsWith(":")) {
        const name = op!.slice(1);
        if (this.chains.includes(name)) this.rules = this.rules.filter((r) => r.split(" ")[1] !== name);
        else this.chains.push(name);
      } else if (op === "-A") {
        this.rules.push(body);
      } else if (op === "-I") {
        const at = this.rules.findIndex((r) => r.split(" ")[1] === chain);
        const ins = `-A ${chain} ${rest.slice(1).join(" ")}`;
        if (at < 0) this.rules.push(ins);
        else this.rules.splice(at, 0, ins);
      } else if (op === "-D") {
        const at = this.rules.indexOf(body);
        if (at < 0) throw new Error(`iptables-restore: no such rule: ${body}`);
        this.rules.splice(at, 1);
      } else if (op === "-X") {
        if (this.rules.some((r) => r.endsWith(` -j ${chain}`))) throw new Error(`iptables-restore: chain ${chain} is in use`);
        if (this.rules.some((r) => r.split(" ")[1] === chain)) throw new Error(`iptables-restore: chain ${chain} is not empty`);
        this.chains = this.chains.filter((c) => c !== chain);
      } else {
        throw new Error(`unexpected line ${line}`);
      }
    }
    return this;
  }

  get saved(): string {
    return ["*nat", ":POSTROUTING ACCEPT [0:0]", ...this.chains.map((c) => `:${c} - [0:0]`), ...this.rules, "COMMIT", ""].join("\n");
  }

  get nat() {
    return parseIptablesSave(this.saved);
  }

  setup(key: MasqKey, cidrs: string[]): this {
    return this.apply(iptablesSetupScript(this.nat, 4, cidrs, key));
  }

  teardown(key: MasqKey, addresses?: string[]): this {
    return this.apply(iptablesTeardownScript(this.nat, key, addresses));
  }

  jumps(): string[] {
    return this.rules.filter((r) => r.startsWith("-A POSTROUTING "));
  }

  chainRules(chain: string): string[] {
    return this.rules.filter((r) => r.split(" ")[1] === chain);
  }
}

const k = (network: string, containerID: string): MasqKey => ({ network, containerID });
const jumpOf = (ip: string, key: MasqKey, chain: string) => `-A POSTROUTING -s ${ip}/32 -m comment --comment ${JSON.stringify(iptComment(key.network, key.containerID))} -j ${chain}`;

describe("byte limits", () => {
  it("cuts by UTF-8 bytes, never inside a character", () => {
    expect(cutBytes("abc", 3)).toBe("abc");
    expect(cutBytes("abcd", 3)).toBe("abc");
    expect(cutBytes("aé", 2)).toBe("a");
    expect(cutBytes("aé", 3)).toBe("aé");
  });

  it("iptables comments: the reference's text, cut to the 255 bytes iptables keeps", () => {
    expect(iptComment("net", "ctr")).toBe('name: "net" id: "ctr"');
    const long = iptComment("net", "c".repeat(2048));
    expect(Buffer.byteLength(long)).toBe(255);
    expect(long.startsWith('name: "net" id: "ccc')).toBe(true);
    // The rules inside the chain name the key by hashes once the comment had to be cut.
    expect(iptChainComment("net", "ctr")).toBe('name: "net" id: "ctr"');
    expect(iptChainComment("net", "c".repeat(2048))).toMatch(/^name-sha512: [0-9a-f]{32} id-sha512: [0-9a-f]{32}$/);
    const script = iptablesSetupScript(parseIptablesSave("*nat\nCOMMIT\n"), 4, ["10.1.0.5/24"], k("n".repeat(2048), "c".repeat(2048)));
    // iptables-restore refuses a parameter over 1,024 bytes ("Parameter too long!").
    for (const line of script.split("\n")) for (const arg of splitSavedArgs(line)) expect(Buffer.byteLength(arg)).toBeLessThanOrEqual(255);
  });

  it("nft masquerade comments: at most 128 bytes also with a UTF-8 ifname, and GC goes by the instance hash", () => {
    const c = nftComment("net.1", "ethé", "long-id.".repeat(40));
    expect(Buffer.byteLength(c)).toBeLessThanOrEqual(128);
    expect(c.startsWith(`${nftInstanceHash("net.1", "ethé", "long-id.".repeat(40))}, net: net.1, if: ethé, id: long-id.`)).toBe(true);
    // A rule the reference (or an older version) commented differently after the hash stays valid.
    const rules = [
      { handle: 1, comment: `${nftInstanceHash("n", "eth0", "a")}, net: n, if: eth0, id: a-and-more-text` },
      { handle: 2, comment: nftComment("n", "eth0", "b") },
    ];
    expect(nftStaleRules(rules, "n", [{ containerID: "a", ifname: "eth0" }]).map((r) => r.handle)).toEqual([2]);
  });
});

describe("iptables: concatenation twins share the reference's chain name", () => {
  const ab = k("ab", "c");
  const a = k("a", "bc");

  it("the second twin gets its own chain; removing either leaves the other's jump and chain", () => {
    expect(iptChainName("ab", "c")).toBe(iptChainName("a", "bc"));
    expect(iptAltChainName("ab", "c")).not.toBe(iptAltChainName("a", "bc"));
    const ref = iptChainName("ab", "c");
    const alt = iptAltChainName("a", "bc");
    const m = new NatModel().setup(ab, ["10.1.0.5/24"]).setup(a, ["10.2.0.5/24"]);
    expect(m.jumps()).toEqual([jumpOf("10.1.0.5", ab, ref), jumpOf("10.2.0.5", a, alt)]);
    expect(m.chainRules(ref).map((r) => r.split(" -m ")[0])).toEqual([`-A ${ref} -d 10.1.0.0/24`, `-A ${ref} ! -d 224.0.0.0/4`]);
    expect(m.chainRules(alt).map((r) => r.split(" -m ")[0])).toEqual([`-A ${alt} -d 10.2.0.0/24`, `-A ${alt} ! -d 224.0.0.0/4`]);

    const afterA = new NatModel().setup(ab, ["10.1.0.5/24"]).setup(a, ["10.2.0.5/24"]).teardown(a);
    expect(afterA.jumps()).toEqual([jumpOf("10.1.0.5", ab, ref)]);
    expect(afterA.chains).toEqual([ref]);
    const afterAb = new NatModel().setup(ab, ["10.1.0.5/24"]).setup(a, ["10.2.0.5/24"]).teardown(ab);
    expect(afterAb.jumps()).toEqual([jumpOf("10.2.0.5", a, alt)]);
    expect(afterAb.chains).toEqual([alt]);
    expect(afterAb.teardown(a).saved).toBe(new NatModel().saved);
  });

  it("a repeated ADD of a twin stays on its chain", () => {
    const m = new NatModel().setup(ab, ["10.1.0.5/24"]).setup(a, ["10.2.0.5/24"]).setup(a, ["10.2.0.5/24"]).setup(ab, ["10.1.0.5/24"]);
    expect(m.jumps().sort()).toEqual([jumpOf("10.1.0.5", ab, iptChainName("ab", "c")), jumpOf("10.2.0.5", a, iptAltChainName("a", "bc"))].sort());
  });

  it("GC of one twin's network leaves the other network's chain", () => {
    const m = new NatModel().setup(ab, ["10.1.0.5/24"]).setup(a, ["10.2.0.5/24"]);
    m.apply(iptablesGcScript(m.nat, "a", []));
    expect(m.jumps()).toEqual([jumpOf("10.1.0.5", ab, iptChainName("ab", "c"))]);
    expect(m.chains).toEqual([iptChainName("ab", "c")]);
  });
});

describe("iptables: a pod's two interfaces on one network share the key", () => {
  const pod = k("n", "multi");
  const chain = iptChainName("n", "multi");

  it("the second ADD keeps the first interface's jump and chain", () => {
    const m = new NatModel().setup(pod, ["10.1.0.5/24"]);
    const script = iptablesSetupScript(m.nat, 4, ["10.1.0.6/24"], pod);
    expect(script).not.toContain("-D POSTROUTING");
    expect(script).not.toContain(`:${chain}`);
    m.apply(script);
    expect(m.jumps()).toEqual([jumpOf("10.1.0.5", pod, chain), jumpOf("10.1.0.6", pod, chain)]);
    expect(m.chainRules(chain)).toHaveLength(2);
  });

  it("DEL with prevResult's addresses removes only that interface's jump; the last one takes the chain", () => {
    const m = new NatModel().setup(pod, ["10.1.0.5/24"]).setup(pod, ["10.1.0.6/24"]);
    m.teardown(pod, ["10.1.0.6/24"]);
    expect(m.jumps()).toEqual([jumpOf("10.1.0.5", pod, chain)]);
    expect(m.chains).toEqual([chain]);
    m.teardown(pod, ["10.1.0.5/24"]);
    expect(m.saved).toBe(new NatModel().saved);
  });

  it("DEL without addresses (no prevResult, plugins #810) removes all of the key's state", () => {
    const m = new NatModel().setup(pod, ["10.1.0.5/24"]).setup(pod, ["10.1.0.6/24"]).teardown(pod);
    expect(m.saved).toBe(new NatModel().saved);
  });

  it("a second interface in another subnet adds its ACCEPT before the MASQUERADE", () => {
    const m = new NatModel().setup(pod, ["10.1.0.5/24"]).setup(pod, ["10.9.0.5/24"]);
    expect(m.chainRules(chain).map((r) => r.split(" -m ")[0])).toEqual([`-A ${chain} -d 10.9.0.0/24`, `-A ${chain} -d 10.1.0.0/24`, `-A ${chain} ! -d 224.0.0.0/4`]);
  });

  it("DEL takes the addresses of this interface from prevResult", () => {
    const conf = (prevResult: unknown) => ({ prevResult }) as never;
    const prev = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "br" }, { name: "veth1" }, { name: "eth1", sandbox: "/x" }],
      ips: [{ address: "10.1.0.6/24", interface: 2 }, { address: "10.1.0.9/24", interface: 1 }, { address: "10.1.0.7/24" }],
    };
    expect(addressesOf({ conf: conf(prev), ifname: "eth1" })).toEqual(["10.1.0.6/24", "10.1.0.7/24"]);
    expect(addressesOf({ conf: conf(undefined), ifname: "eth1" })).toBeUndefined();
    expect(addressesOf({ conf: conf({ cniVersion: "1.0.0", ips: [] }), ifname: "eth1" })).toBeUndefined();
  });
});

describe("iptables GC: which jumps are this network's", () => {
  const long1 = `${"n".repeat(299)}1`;
  const long2 = `${"n".repeat(299)}2`;

  it("networks whose names iptables cuts to the same comment: GC goes by the hash inside our chains", () => {
    expect(iptComment(long1, "x")).toBe(iptComment(long2, "x"));
    const m = new NatModel().setup(k(long1, "x"), ["10.1.0.5/24"]).setup(k(long2, "x"), ["10.2.0.5/24"]);
    const keep = m.saved;
    m.apply(iptablesGcScript(m.nat, long1, ["x"]));
    expect(m.saved).toBe(keep);
    m.apply(iptablesGcScript(m.nat, long1, []));
    expect(m.jumps()).toEqual([jumpOf("10.2.0.5", k(long2, "x"), iptChainName(long2, "x"))]);
    expect(m.chains).toEqual([iptChainName(long2, "x")]);
  });

  it("a 243-character network with a cut ID: the comment still names the network", () => {
    const net = "w".repeat(243);
    const m = new NatModel().setup(k(net, "a"), ["10.1.0.5/24"]).setup(k(`${net.slice(1)}v`, "a"), ["10.2.0.5/24"]).setup(k(net, "c".repeat(2048)), ["10.1.0.6/24"]);
    m.apply(iptablesGcScript(m.nat, net, ["a"]));
    expect(m.jumps()).toEqual([jumpOf("10.1.0.5", k(net, "a"), iptChainName(net, "a")), jumpOf("10.2.0.5", k(`${net.slice(1)}v`, "a"), iptChainName(`${net.slice(1)}v`, "a"))]);
  });

  it("a chain whose jumps are gone (the reference sets up in separate steps) goes; one whose comment names another chain does not", () => {
    const m = new NatModel().setup(k("n", "a"), ["10.1.0.5/24"]);
    m.rules = m.rules.filter((r) => !r.startsWith("-A POSTROUTING"));
    m.apply(iptablesGcScript(m.nat, "n", []));
    expect(m.saved).toBe(new NatModel().saved);
    // A jump whose comment names ID "a" but points elsewhere is not ours to judge.
    const odd = new NatModel().setup(k("n", "b"), ["10.1.0.5/24"]);
    odd.rules = odd.rules.map((r) => r.replace('id: \\"b\\"', 'id: \\"a\\"'));
    expect(iptablesGcScript(odd.nat, "n", [])).not.toContain("-D POSTROUTING");
  });

  it("reads iptables-save quoting back", () => {
    expect(splitSavedArgs('-A POSTROUTING -s 10.1.0.5/32 -m comment --comment "name: \\"n\\" id: \\"a\\"" -j CNI-x')).toEqual([
      "-A", "POSTROUTING", "-s", "10.1.0.5/32", "-m", "comment", "--comment", 'name: "n" id: "a"', "-j", "CNI-x",
    ]);
    expect(splitSavedArgs("-A X --comment plain -j Y")).toEqual(["-A", "X", "--comment", "plain", "-j", "Y"]);
  });
});

describe("MAC spoof-check names", () => {
  it("are keyed by (network, containerID, ifname): the reference's collisions get their own chains", () => {
    const keys = [
      spoofKey("n", "pod-x", "eth0"),
      spoofKey("n", "pod", "x-eth0"),
      spoofKey("net.1", "same", "eth0"),
      spoofKey("net-1", "same", "eth0"),
      spoofKey("n", "pod-eth0", "mac"),
      spoofKey("n", "pod", "eth0"),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    const chains = keys.flatMap((key) => Object.values(spoofChains(key)));
    expect(new Set(chains).size).toBe(chains.length);
  });

  it("fit nft's limits and text syntax for any spec-valid name", () => {
    for (const [net, id, ifname] of [["n".repeat(2048), "c".repeat(2048), "ééééééé0"], ["n", "a", "e"], ["n", "a", '"q"']] as const) {
      const key = spoofKey(net, id, ifname);
      for (const c of Object.values(spoofChains(key))) {
        expect(c).toMatch(/^cni-br-iface-[0-9a-f]{16}-[0-9a-f]{16}(-mac)?$/);
        expect(c.length).toBeLessThanOrEqual(255);
      }
      const comment = spoofComment(net, id, ifname);
      expect(Buffer.byteLength(comment)).toBeLessThanOrEqual(128);
      expect(comment).not.toContain('"');
      expect(spoofKeyOf(comment)).toBe(key);
    }
    expect(spoofKeyOf("macspoofchk-pod-eth0")).toBeUndefined();
  });

  it("the reference's names are cleaned up only where no other attachment can have them", () => {
    expect(legacySpoofNames("0123abcd", "eth0")).toEqual({
      iface: "cni-br-iface-0123abcd-eth0",
      mac: "cni-br-iface-0123abcd-eth0-mac",
      comment: "macspoofchk-0123abcd-eth0",
      macOf: "macspoofchk-0123abcd-eth0-mac",
    });
    expect(legacySpoofNames("pod-x", "eth0")).toBeUndefined(); // ("pod", "x-eth0") has the same
    expect(legacySpoofNames("pod", "x-eth0")).toBeUndefined();
    expect(legacySpoofNames("pod", "ethé")).toBeUndefined(); // nft text cannot spell it
    expect(legacySpoofNames("c".repeat(200), "eth0")).toBeUndefined(); // nft refused it (comment over 128 bytes)
  });
});
