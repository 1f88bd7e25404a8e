// A short concurrency soak (reliability/soak.ts): parallel ADD/CHECK/DEL loops over two networks
// (one with a 2-address range, one chained with ebpf-bandwidth). No duplicate address, every
// failure a clean CNI error, nothing left at the end. The long run's figures are in RELIABILITY.md.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { soak } from "../../reliability/soak";
import { isRoot } from "../helpers/netns";
import { DIST_BIN, haveReference } from "../helpers/plugin";

const canRun = isRoot() && fs.existsSync(DIST_BIN) && spawnSync("nft", ["--version"]).status === 0 && haveReference("bridge");
const SECONDS = Number(process.env.TSCNI_SOAK_SECONDS ?? 20);

describe.skipIf(!canRun)("concurrency soak", () => {
  it(`${SECONDS} s, 4 workers, two networks: no duplicate address, only clean errors, no leak`, async () => {
    const r = await soak({ seconds: SECONDS, workers: 4 });
    expect(r.violations).toEqual([]);
    expect(r.leaks).toEqual([]);
    expect(r.attachments).toBeGreaterThan(4);
    expect(r.byVerb["ebpf-bandwidth ADD"] ?? 0).toBeGreaterThan(0);
    // Any error seen is one of the codes contention can cause: no free address (102), try again (11).
    for (const k of Object.keys(r.errors)) expect(k).toMatch(/ (102|11)$/);
  }, SECONDS * 1000 + 90_000);
});
