// Vitest wrapper: runs a check table against one plugin directory, one test per check. An
// expected difference (expected-differences.json) counts as green and is annotated; a check whose
// plugin answers "not implemented" is skipped with that answer as the reason, so the table shows
// at a glance what is left for the plugin authors.
import * as fs from "node:fs";
import { afterAll, describe, it } from "vitest";
import { startDaemon } from "../test/helpers/mode";
import { ourBinDir, usingBuiltBinary } from "../test/helpers/plugin";
import { ALL_CHECKS } from "./checks/index";
import { type Check, type CheckResult, Run, isBad, loadExpectations } from "./harness";
import { DEFAULT_CHAIN_FIXTURE, DEFAULT_FIXTURE, REFERENCE_DIR, makeTarget } from "./run";

export { REFERENCE_DIR };

const isRoot = process.getuid?.() === 0;

export function suite(label: string, dirOf: () => string, skipReason: string | undefined, fixture = DEFAULT_FIXTURE, checks: Check[] = ALL_CHECKS, name = ""): void {
  describe.skipIf(skipReason !== undefined)(`conformance${name}: ${label}${skipReason ? ` (${skipReason})` : ""}`, () => {
    let run: Run | undefined;
    const getRun = () =>
      (run ??= new Run({
        target: makeTarget(label, dirOf()),
        checks,
        fixture,
        chainFixture: DEFAULT_CHAIN_FIXTURE,
        expectations: loadExpectations(),
        ...(label === "ours" ? { startResident: startDaemon } : {}),
      }));
    afterAll(() => run?.teardown());

    for (const check of checks) {
      it(`${check.id}: ${check.title}`, async (t) => {
        const r: CheckResult = await getRun().runCheck(check);
        if (r.status === "skip") t.skip(r.detail);
        if (r.status === "unimpl") t.skip(`not implemented yet: ${r.detail.split(" — ")[0]}`);
        if (r.status === "xfail") await t.annotate(`expected difference: ${r.expected}`);
        if (isBad(r.status, false)) {
          const why = r.status === "xpass" ? `passes now, but expected-differences.json lists it (${r.expected}): remove the entry` : r.detail;
          throw new Error(`${check.id} [${check.spec}]: ${why}`);
        }
      });
    }
  });
}

export const refSkip = !isRoot ? "needs root" : !fs.existsSync(`${REFERENCE_DIR}/bridge`) ? "containernetworking-plugins not installed" : undefined;
export const oursSkip = !isRoot ? "needs root" : !usingBuiltBinary() ? "dist/tscni not built (npm run build)" : undefined;
export { ourBinDir };
