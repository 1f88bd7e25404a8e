// Feature probes against the running kernel, and bpffs mounting.
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { MIN_KERNEL, features, kernelAtLeast, probeSchFq } from "../../kernel/bpf/probe";
import { ensureBpffs, isBpffs, makePinDir } from "../../kernel/bpf/pin";
import { NsScope, isRoot } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

describe.skipIf(!isRoot())("probes", () => {
  it("finds TCX on kernels that must have it", () => {
    const f = features();
    if (kernelAtLeast(MIN_KERNEL.tcx)) expect(f.tcx).toBe(true);
    expect(typeof f.schFq).toBe("boolean");
  });

  it("answers sch_fq from a known source", () => {
    const p = probeSchFq();
    expect(["config", "kallsyms", "modules", "unknown"]).toContain(p.source);
  });

  it("mounts a bpffs where there is none, once", () => {
    const dir = scope.tmpdir("tscni-bpffs-");
    scope.onCleanup(() => execFileSync("umount", [dir]));
    expect(isBpffs(dir)).toBe(false);
    ensureBpffs(dir);
    expect(isBpffs(dir)).toBe(true);
    ensureBpffs(dir); // already mounted: no second mount
    const mounts = execFileSync("findmnt", ["-n", "-o", "FSTYPE", dir], { encoding: "utf8" }).trim().split("\n");
    expect(mounts).toEqual(["bpf"]);
    expect(isBpffs(makePinDir(dir, "a", "b"))).toBe(true);
    expect(() => makePinDir(dir, "..")).toThrow(/invalid pin path/);
  });
});
