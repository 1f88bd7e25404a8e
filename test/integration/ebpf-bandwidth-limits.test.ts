// ebpf-bandwidth at the extremes of the rates and bursts the reference accepts (issue #11): every
// combination in every mode this kernel runs (htb, police) is accepted by the real kernel (ADD,
// CHECK, DEL, nothing left), or refused with code 7 naming the field before anything is touched.
// The limits and clamps themselves are unit-tested (test/unit/ebpf-bandwidth-limits.test.ts).
import * as fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { NsScope, isRoot } from "../helpers/netns";
import { DIST_BIN, haveReference } from "../helpers/plugin";
import { type Topo, expectNothingLeft as expectClean, runBandwidth as run, topology } from "./ebpf-bandwidth-helpers";

const canRun = isRoot() && haveReference("bridge");
const scope = new NsScope();
afterEach(() => scope.cleanup());

/** bit/s: the smallest rate, below the small-packet class's 64 kbit/s, 100 Gbit, 1 Tbit, the police bucket's u64 edge, the largest exact JSON integer. */
const RATES = [8, 50_000, 100e9, 1e12, 295_147_905_184, Number.MAX_SAFE_INTEGER];
/** bits: the smallest, 64 KiB, just under the reference's 4 GB (burst / 8 < 2^32 - 1). */
const BURSTS = [8, 524_288, 8 * 0xffffffff - 1];
const limits = (rate: number, burst: number) => ({ ingressRate: rate, ingressBurst: burst, egressRate: rate, egressBurst: burst });



/** Loss of 5 pings from container 0 to container 1, in percent. */
function pingLoss(t: Topo): number {
  const r = t.ctrs[0]!.ns.run("ping", ["-c", "5", "-i", "0.2", "-W", "1", t.ctrs[1]!.ip], { allowFail: true });
  return Number(/(\d+(?:\.\d+)?)% packet loss/.exec(r.stdout)?.[1] ?? 100);
}

describe.skipIf(!canRun)("ebpf-bandwidth at extreme rates and bursts (real kernel)", () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: the tests drive dist/tscni");
  });

  for (const mode of ["htb", "police"] as const) {
    it(`${mode}: every rate from 8 bit/s to 2^53-1 with bursts from 8 bits to just under 4 GB: ADD, CHECK and DEL succeed`, () => {
      const t = topology(scope, { bridge: "reference", n: 1 });
      const failures: string[] = [];
      for (const rate of RATES) {
        for (const burst of BURSTS) {
          const conf = { mode, ...limits(rate, burst), prevResult: t.ctrs[0]!.result };
          for (const verb of ["ADD", "CHECK", "DEL"]) {
            const r = run(t, verb, conf, 0);
            if (r.code !== 0) failures.push(`${verb} rate ${rate} burst ${burst}: ${r.stdout.trim()}`);
          }
        }
      }
      expect(failures).toEqual([]);
      expectClean(t);
    }, 120_000);
  }

  it("traffic flows at the extremes that used to break: police at the u64 edge of its bucket, htb at 2^53-1 bit/s", () => {
    const t = topology(scope, { bridge: "reference", n: 2 });
    for (const [mode, rate] of [["police", 295_147_905_184], ["htb", Number.MAX_SAFE_INTEGER], ["htb", 100e9]] as const) {
      const conf = { mode, ...limits(rate, 8), prevResult: t.ctrs[0]!.result };
      expect(run(t, "ADD", conf, 0).code).toBe(0);
      expect([mode, rate, pingLoss(t)]).toEqual([mode, rate, 0]);
      expect(run(t, "DEL", conf, 0).code).toBe(0);
    }
    expectClean(t);
  });

  it.each([
    [{ ingressRate: 7, ingressBurst: 8 }, 'invalid ingressRate'],
    [{ egressRate: 7, egressBurst: 8 }, 'invalid egressRate'],
    [{ ingressRate: 1e16, ingressBurst: 8 }, 'invalid "ingressRate"'],
    [{ egressRate: 8, egressBurst: 8 * 0xffffffff }, 'invalid egressBurst'],
  ])("refuses %j with code 7 naming the field, touching nothing", (lim, msg) => {
    const t = topology(scope, { bridge: "reference", n: 1 });
    for (const mode of ["htb", "police"]) {
      const r = run(t, "ADD", { mode, ...lim, prevResult: t.ctrs[0]!.result }, 0);
      expect([r.json?.code, r.json?.msg]).toEqual([7, msg]);
    }
    expectClean(t);
  });
});
