// The second-kernel harness, from the host: boots Debian's 6.1 kernel under qemu (TCG) with this
// machine's root shared read-only and runs selected integration tests there. Slow (minutes), so
// only with TSCNI_QEMU=1; TSCNI_QEMU_TESTS overrides the test list (space-separated paths).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers/plugin";

const enabled = process.env.TSCNI_QEMU === "1";

describe.skipIf(!enabled)("qemu: integration tests on Debian's 6.1 kernel (set TSCNI_QEMU=1; slow under TCG)", () => {
  it("boots 6.1, and the selected tests pass there", () => {
    const tests = (process.env.TSCNI_QEMU_TESTS ?? "").split(/\s+/).filter(Boolean);
    const r = spawnSync(path.join(REPO, "reliability/qemu/run.sh"), ["--timeout", "2400", ...tests], { encoding: "utf8", maxBuffer: 256 << 20, timeout: 2_500_000 });
    const out = r.stdout + r.stderr;
    const result = /TSCNI-QEMU-RESULT rc=(\d+) kernel=(\S+)/.exec(out);
    expect(result, out.slice(-4000)).not.toBeNull();
    expect(result![2]).toMatch(/^6\.1\./);
    expect(Number(result![1]), out.slice(-8000)).toBe(0);
  }, 2_600_000);
});
