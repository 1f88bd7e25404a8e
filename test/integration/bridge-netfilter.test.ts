// The cheap netfilter probes (plugins/bridge/nf-probe.ts) that let ADD/DEL/GC skip iptables-save
// and nft when no state of ours can exist: they must never say "absent" when there is state, in
// either iptables variant, and the rule dump must agree with `nft --json -a`. Also the end-to-end
// consequence: a backend switched between ADD and DEL is still cleaned up.
import { afterEach, describe, expect, it } from "vitest";
import { withNetns } from "../../kernel/netns";
import { iptChainName, NFT_CHAIN, NFT_TABLE, parseNftRules } from "../../plugins/bridge/masq";
import { iptablesNatMayHold, nftChainExists, nftChainRules, nftTableExists, udataComment } from "../../plugins/bridge/nf-probe";
import { isRoot, NsScope } from "../helpers/netns";
import { conf, makeEnv, mustAdd, run } from "./bridge-helpers";

const scope = new NsScope();
afterEach(() => scope.cleanup());
const suite = isRoot() ? describe : describe.skip;

describe("nf-probe: rule user data", () => {
  it("finds the comment TLV among others", () => {
    const comment = Buffer.from("abc-def, net: n\0");
    const other = Buffer.from([7, 2, 1, 2]);
    expect(udataComment(Buffer.concat([other, Buffer.from([0, comment.length]), comment]))).toBe("abc-def, net: n");
    expect(udataComment(Buffer.from([1, 1, 9]))).toBeUndefined();
    expect(udataComment(Buffer.from([0, 9, 65]))).toBeUndefined(); // truncated
  });
});

suite("nf-probe: in a node namespace", () => {
  it("a fresh namespace has nothing; iptables-nft chains and nft rules are seen as they appear", () => {
    const node = scope.netns("np");
    const chain = iptChainName("net", "ctr");
    const other = iptChainName("net", "other");
    withNetns(node.path, () => {
      expect(iptablesNatMayHold(4, chain)).toBe(false);
      expect(iptablesNatMayHold(6)).toBe(false);
      expect(nftTableExists("inet", NFT_TABLE)).toBe(false);
      expect(nftChainRules("inet", NFT_TABLE, NFT_CHAIN)).toEqual([]);
      expect(nftChainExists("bridge", "nat", "cni-br-iface-x")).toBe(false);
    });

    node.run("iptables-restore", ["-w", "--noflush"], { input: `*nat\n:${chain} - [0:0]\n-A ${chain} -j ACCEPT\n-A POSTROUTING -s 10.0.0.2/32 -j ${chain}\nCOMMIT\n` });
    node.run("nft", ["-f", "-"], {
      input: [
        `add table inet ${NFT_TABLE}`,
        `add chain inet ${NFT_TABLE} ${NFT_CHAIN}`,
        `add rule inet ${NFT_TABLE} ${NFT_CHAIN} ip saddr 10.0.0.2 masquerade comment "first, net: n"`,
        `add rule inet ${NFT_TABLE} ${NFT_CHAIN} ip saddr 10.0.0.3 masquerade`,
        `add rule inet ${NFT_TABLE} ${NFT_CHAIN} ip saddr 10.0.0.4 masquerade comment "third"`,
      ].join("\n") + "\n",
    });
    const viaNft = parseNftRules(node.run("nft", ["--json", "-a", "list", "chain", "inet", NFT_TABLE, NFT_CHAIN]).stdout);
    expect(viaNft.map((r) => r.comment)).toEqual(["first, net: n", undefined, "third"]);
    withNetns(node.path, () => {
      expect(iptablesNatMayHold(4, chain)).toBe(true);
      expect(iptablesNatMayHold(4)).toBe(true);
      // iptables-nft keeps the nat table in nf_tables: another attachment's chain is known absent.
      if (iptablesIsNft()) expect(iptablesNatMayHold(4, other)).toBe(false);
      expect(iptablesNatMayHold(6, chain)).toBe(false);
      expect(nftTableExists("inet", NFT_TABLE)).toBe(true);
      expect(nftChainRules("inet", NFT_TABLE, NFT_CHAIN)).toEqual(viaNft);
    });
  });

  it("a legacy (x_tables) nat table makes every iptables probe say maybe", (ctx) => {
    const node = scope.netns("nl");
    if (node.run("iptables-legacy", ["-w", "-t", "nat", "-L", "-n"], { allowFail: true }).status !== 0) ctx.skip();
    withNetns(node.path, () => {
      expect(iptablesNatMayHold(4, iptChainName("net", "ctr"))).toBe(true);
      expect(iptablesNatMayHold(6, iptChainName("net", "ctr"))).toBe(false);
    });
  });
});

function iptablesIsNft(): boolean {
  const r = scope.netns("nv").run("iptables", ["-V"], { allowFail: true });
  return r.stdout.includes("nf_tables");
}

suite("bridge: masquerade backend changed between ADD and DEL", () => {
  for (const [added, deleted] of [["iptables", "nftables"], ["nftables", "iptables"]] as const) {
    it(`ADD with ${added}, DEL (no netns) with ${deleted}: the rules go`, () => {
      const env = makeEnv(scope);
      const ctr = scope.netns("cm");
      mustAdd(env, conf(env, "1.0.0", { isGateway: true, ipMasq: true, ipMasqBackend: added }), ctr, "switch-me");
      const dump = () => env.node.run("sh", ["-c", "iptables-save -t nat; ip6tables-save -t nat; nft list ruleset"]).stdout;
      expect(dump()).toContain("switch-me");
      expect(run(env, "DEL", conf(env, "1.0.0", { isGateway: true, ipMasq: true, ipMasqBackend: deleted }), undefined, "switch-me").code).toBe(0);
      expect(dump()).not.toContain("switch-me");
    });
  }
});
