// The configuration path under fuzzing (reliability/fuzz.ts): every mutated input is accepted or
// refused with a CniError carrying an input-error code; nothing else escapes. Bounded for CI
// (TSCNI_FUZZ_ITERATIONS raises it; the long run's figures are in RELIABILITY.md).
import { describe, expect, it } from "vitest";
import { parseNetConf } from "../../core/config";
import { CniError } from "../../core/errors";
import { fuzz, parseAll, SEEDS } from "../../reliability/fuzz";

const N = Number(process.env.TSCNI_FUZZ_ITERATIONS ?? 3000);

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 0;
  } catch (e) {
    return e instanceof CniError ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
};

describe("config fuzzing", () => {
  it("the seeds themselves are valid for every verb", () => {
    for (const [plugin, seed] of Object.entries(SEEDS)) {
      for (const cmd of ["ADD", "DEL", "CHECK", "GC", "STATUS"] as const) {
        expect(codeOf(() => parseAll(plugin, cmd, Buffer.from(JSON.stringify(seed)), "")), `${plugin} ${cmd}`).toBe(0);
      }
    }
  });

  it.each([1, 2, 3])(`${N} mutated configs (seed %i): only CNI input errors, no other exception`, (seed) => {
    const o = fuzz(N, seed);
    expect(o.failures.slice(0, 3)).toEqual([]);
    // The mutations reach past decoding: some inputs are accepted, many refused as config errors.
    expect(o.accepted).toBeGreaterThan(N / 20);
    expect(o.refused.get(7) ?? 0).toBeGreaterThan(N / 20);
  }, 60_000);

  // Was bug B1 (RELIABILITY.md): prevResult addresses are checked as Go decodes them
  // (net.ParseCIDR / net.ParseIP), so "999.1.1.1/24" is a decoding error (6) before anything runs.
  it("refuses a prevResult whose address is not an address (code 6)", () => {
    const conf = { ...SEEDS["ebpf-bandwidth"], prevResult: { cniVersion: "1.1.0", ips: [{ address: "999.1.1.1/24" }] } };
    expect(codeOf(() => parseNetConf(Buffer.from(JSON.stringify(conf)), "ADD"))).toBe(6);
  });

  it("refuses a prevResult route whose dst is not a CIDR (code 6)", () => {
    const conf = { ...SEEDS["ebpf-bandwidth"], prevResult: { cniVersion: "1.1.0", routes: [{ dst: "default" }] } };
    expect(codeOf(() => parseNetConf(Buffer.from(JSON.stringify(conf)), "ADD"))).toBe(6);
  });
});
