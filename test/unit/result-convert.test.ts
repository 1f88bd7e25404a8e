// Result conversion for every version pair, against golden JSON files in test/golden/results.
// Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CniError } from "../../core/errors";
import { convertResult, parseResult, toWire } from "../../core/result/convert";

const DIR = path.resolve(__dirname, "../golden/results");
const VERSIONS = ["0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), "utf8"));

describe("result conversion golden files", () => {
  for (const from of VERSIONS) {
    for (const to of VERSIONS) {
      it(`${from} -> ${to}`, () => {
        const out = convertResult(read(`input-${from}.json`), from, to);
        const file = path.join(DIR, `${from}-to-${to}.json`);
        const text = JSON.stringify(out, null, 4) + "\n";
        if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, text);
        expect(text).toBe(fs.readFileSync(file, "utf8"));
      });
    }
  }
});

describe("conversion semantics", () => {
  it("0.2.0 keeps only the first IPv4 and the first IPv6 address, routes nested by family", () => {
    const out = convertResult(read("input-1.1.0.json"), "1.1.0", "0.2.0") as any;
    expect(out.ip4.ip).toBe("10.22.0.5/16");
    expect(out.ip6.ip).toBe("fd00:22::5/64");
    expect(out.ip4.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.22.0.1" }, { dst: "192.168.0.0/16" }]);
    expect(out.ip6.routes).toEqual([{ dst: "::/0", gw: "fd00:22::1" }]);
    expect(out.interfaces).toBeUndefined();
  });

  it("0.3.x/0.4.0 carry an IP version and drop 1.1-only fields", () => {
    const out = convertResult(read("input-1.1.0.json"), "1.1.0", "0.4.0") as any;
    expect(out.ips.map((i: any) => i.version)).toEqual(["4", "4", "6", "6"]);
    expect(out.interfaces[2]).toEqual({ name: "eth0", mac: "02:42:ac:11:00:02", sandbox: "/var/run/netns/c1" });
    expect(out.routes[0]).toEqual({ dst: "0.0.0.0/0", gw: "10.22.0.1" });
  });

  it("round-trips losslessly within the same family", () => {
    for (const v of VERSIONS) expect(convertResult(read(`input-${v}.json`), v, v)).toEqual(read(`input-${v}.json`));
  });

  it("always prints dns, as Go never omits a struct", () => {
    expect(toWire({ cniVersion: "1.0.0" }, "1.0.0")).toEqual({ cniVersion: "1.0.0", dns: {} });
    expect(toWire({ cniVersion: "0.2.0" }, "0.2.0")).toEqual({ cniVersion: "0.2.0", dns: {} });
  });

  it("rejects malformed results with a decoding error naming the field", () => {
    try {
      parseResult({ ips: [{ address: 5 }] }, "1.0.0");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      expect((e as CniError).code).toBe(6);
      expect((e as CniError).details).toContain("ips[0].address");
    }
  });
});
