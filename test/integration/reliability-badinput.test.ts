// The bad-input corpus (reliability/corpus.ts) through the built executable, in throwaway node
// namespaces: each case → a CNI error with the right code, a non-zero exit, no stack trace, and an
// unchanged node. Bounded for CI: ADD for every case and plugin, plus every verb for a sample of
// cases (the full matrix: `npx tsx reliability/badinput.ts`, figures in RELIABILITY.md).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CaseOutcome, runCorpus } from "../../reliability/badinput";
import { CASES } from "../../reliability/corpus";
import { DIST_BIN } from "../helpers/plugin";
import { isRoot } from "../helpers/netns";

const canRun = isRoot() && spawnSync("nft", ["--version"]).status === 0;
/** Every verb for these; ADD only for the rest. */
const FULL = new Set(["truncated-50%", "stdin-16MiB", "name-traversal", "version-unknown", "hl-overlap-sets", "bw-rate-negative", "env-no-path", "netns-regular-file", "gc-valid-not-array"]);
/** Known bugs (RELIABILITY.md): asserted with it.fails so the suite stays green while they stand. */
const KNOWN_BUGS = new Set<string>([]);

let results = new Map<string, CaseOutcome>();

describe.skipIf(!canRun)("bad-input corpus", () => {
  beforeAll(async () => {
    if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: the corpus drives dist/tscni");
    const out = await runCorpus(CASES, { workers: 2, filter: (r) => r.verb === "ADD" || FULL.has(r.c.id) || r.c.verbs?.includes("ADD") === false });
    results = new Map(out.map((r) => [r.c.id, r]));
  }, 170_000);
  afterAll(() => results.clear());

  for (const c of CASES) {
    const test = KNOWN_BUGS.has(c.id) ? it.fails : it;
    test(`${c.id}: ${c.what}`, () => {
      const r = results.get(c.id);
      expect(r?.c.id, "case did not run").toBe(c.id);
      expect(r!.runs.length).toBeGreaterThan(0);
      expect(r!.runs.filter((x) => !x.ok).map((x) => `${x.run.plugin} ${x.run.verb}: ${x.problem}`)).toEqual([]);
      expect(r!.leaks).toEqual([]);
    });
  }
});
