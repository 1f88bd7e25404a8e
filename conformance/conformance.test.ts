// Runs the conformance table against the reference plugins (/usr/lib/cni) and against ours
// (dist/tscni). One test per check. An expected difference (expected-differences.json) counts as
// green and is annotated; a check whose plugin answers "not implemented" is skipped with that
// answer as the reason, so the table shows at a glance what is left for the plugin authors.
import * as fs from "node:fs";
import { afterAll, describe, it } from "vitest";
import { ourBinDir, usingBuiltBinary } from "../test/helpers/plugin";
import * as path from "node:path";
import { ALL_CHECKS, selectChecks } from "./checks/index";
import { CONFORMANCE_DIR, type Check, type CheckResult, Run, isBad, loadExpectations } from "./harness";
import { DEFAULT_CHAIN_FIXTURE, DEFAULT_FIXTURE, REFERENCE_DIR, makeTarget } from "./run";

const isRoot = process.getuid?.() === 0;

const DUALSTACK = path.join(CONFORMANCE_DIR, "fixtures/bridge-host-local-dualstack.conflist");

function suite(label: string, dirOf: () => string, skipReason: string | undefined, fixture = DEFAULT_FIXTURE, checks: Check[] = ALL_CHECKS, name = ""): void {
  describe.skipIf(skipReason !== undefined)(`conformance${name}: ${label}${skipReason ? ` (${skipReason})` : ""}`, () => {
    let run: Run | undefined;
    const getRun = () =>
      (run ??= new Run({
        target: makeTarget(label, dirOf()),
        checks,
        fixture,
        chainFixture: DEFAULT_CHAIN_FIXTURE,
        expectations: loadExpectations(),
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

const refSkip = !isRoot ? "needs root" : !fs.existsSync(`${REFERENCE_DIR}/bridge`) ? "containernetworking-plugins not installed" : undefined;
const oursSkip = !isRoot ? "needs root" : !usingBuiltBinary() ? "dist/tscni not built (npm run build)" : undefined;
suite("reference", () => REFERENCE_DIR, refSkip);
suite("ours", () => ourBinDir(), oursSkip);
// The attachment lifecycle again on a dual-stack (IPv4 + IPv6) network.
const lifecycle = selectChecks(["lifecycle", "del.", "add.", "check."]);
suite("reference", () => REFERENCE_DIR, refSkip, DUALSTACK, lifecycle, " (dual-stack)");
suite("ours", () => ourBinDir(), oursSkip, DUALSTACK, lifecycle, " (dual-stack)");
