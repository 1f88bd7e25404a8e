// The install-cni conflist (cli/conflist.ts) and its atomic write (cli/install-cni.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildConflist, parsePodCidrs } from "../../cli/conflist";
import { conflistText, writeFileAtomic } from "../../cli/install-cni";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("pod subnets", () => {
  it("accept one subnet per family, IPv4 first, canonical", () => {
    expect(parsePodCidrs("10.244.1.0/24")).toEqual(["10.244.1.0/24"]);
    expect(parsePodCidrs(" fd00:10:244:0001::/64 , 10.244.1.0/24")).toEqual(["10.244.1.0/24", "fd00:10:244:1::/64"]);
  });

  it("refuse what a node cannot use, saying why", () => {
    const cases: [string, string][] = [
      ["", "no pod subnet: give --pod-cidr or set POD_CIDR (e.g. 10.244.1.0/24)"],
      ["10.244.1.0", 'pod subnet "10.244.1.0" is not an address with a prefix length'],
      ["10.244.1.0/33", 'pod subnet "10.244.1.0/33" is not an address with a prefix length'],
      ["10.244.1.7/24", 'pod subnet "10.244.1.7/24" has host bits set (the subnet is 10.244.1.0/24)'],
      ["10.244.1.0/31", 'pod subnet "10.244.1.0/31" is too small for pods'],
      ["10.1.0.0/16,10.2.0.0/16", 'more than one IPv4 pod subnet in "10.1.0.0/16,10.2.0.0/16"'],
    ];
    for (const [input, msg] of cases) expect(() => parsePodCidrs(input), input).toThrow(msg);
  });
});

describe("conflist", () => {
  it("is bridge + host-local over the pod subnets, then ebpf-bandwidth taking the bandwidth capability", () => {
    expect(buildConflist({ podCidr: "10.244.1.0/24,fd00::/64" })).toEqual({
      cniVersion: "1.0.0",
      name: "tscni",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00::/64" }]], routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }] },
        },
        { type: "ebpf-bandwidth", capabilities: { bandwidth: true } },
      ],
    });
  });

  it("takes a network and bridge name, mtu, and can leave out masquerading and shaping", () => {
    const c = buildConflist({ podCidr: "10.9.0.0/16", network: "k8s-pod-network", bridge: "br-pods", ipMasq: false, bandwidth: false, mtu: 1450 }) as any;
    expect(c.name).toBe("k8s-pod-network");
    expect(c.plugins).toEqual([
      { type: "bridge", bridge: "br-pods", isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1450, ipam: { type: "host-local", ranges: [[{ subnet: "10.9.0.0/16" }]], routes: [{ dst: "0.0.0.0/0" }] } },
    ]);
    expect(() => buildConflist({ podCidr: "10.9.0.0/16", bridge: "a-bridge-name-too-long" })).toThrow('bridge name "a-bridge-name-too-long" is not a valid interface name');
    expect(() => buildConflist({ podCidr: "10.9.0.0/16", network: "my net" })).toThrow('network name "my net" may hold');
    expect((buildConflist({ podCidr: "10.9.0.0/16", dataDir: "/srv/cni/networks" }) as any).plugins[0].ipam.dataDir).toBe("/srv/cni/networks");
    expect(() => buildConflist({ podCidr: "10.9.0.0/16", dataDir: "cni" })).toThrow('data directory "cni" must be an absolute path');
  });
});

describe("atomic write", () => {
  it("replaces the file whole, leaves no temporary, and creates the directory", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-conflist-"));
    dirs.push(dir);
    const file = path.join(dir, "net.d", "10-tscni.conflist");
    const text = conflistText(buildConflist({ podCidr: "10.244.1.0/24" }));
    writeFileAtomic(file, "old\n");
    const oldIno = fs.statSync(file).ino;
    writeFileAtomic(file, text);
    expect(fs.readFileSync(file, "utf8")).toBe(text);
    expect(fs.statSync(file).ino).not.toBe(oldIno); // a new file renamed over the old: readers see one or the other
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(path.dirname(file))).toEqual(["10-tscni.conflist"]);
    expect(text.endsWith("}\n")).toBe(true);
    expect(JSON.parse(text).plugins.map((p: any) => p.type)).toEqual(["bridge", "ebpf-bandwidth"]);
  });
});
