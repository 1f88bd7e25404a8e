// The set-up commands a new user runs: `npm ci` must accept the lockfile on a fresh clone, and every
// script in package.json must run (issue #11 item 9: npm ci rejected a lockfile that lacked other
// platforms' optional packages, and `npm run test:unit` matched no vitest project).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "../..");
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> };
const lock = JSON.parse(fs.readFileSync(path.join(REPO, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; optionalDependencies?: Record<string, string>; dependencies?: Record<string, string> }>;
};

/** Where npm would resolve `dep` required from the package at `from` (node_modules lookup upwards). */
function resolveLocked(from: string, dep: string): string | undefined {
  let dir = from;
  for (;;) {
    const key = `${dir ? `${dir}/` : ""}node_modules/${dep}`;
    if (lock.packages[key]) return key;
    if (!dir) return undefined;
    const i = dir.lastIndexOf("/node_modules/");
    dir = i < 0 ? "" : dir.slice(0, i);
  }
}

describe("package.json and package-lock.json", () => {
  it("lock every dependency, optional ones for other platforms included (what npm ci verifies)", () => {
    const missing: string[] = [];
    for (const [at, p] of Object.entries(lock.packages)) {
      for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
        if (!resolveLocked(at, dep)) missing.push(`${at || "(root)"} -> ${dep}`);
      }
    }
    expect(missing).toEqual([]);
    expect(Object.keys(lock.packages).filter((k) => k.includes("@rollup/rollup-")).length).toBeGreaterThan(10);
  });

  it("every vitest script selects tests that exist", () => {
    const vitestScripts = Object.entries(pkg.scripts).filter(([, cmd]) => cmd.startsWith("vitest run"));
    expect(vitestScripts.map(([name]) => name).sort()).toEqual(["test", "test:unit"]);
    for (const [name, cmd] of vitestScripts) {
      if (name === "test") continue; // the whole suite: the CI run itself
      // `vitest list` with the script's own filters: exit 0 and at least one test (no recursion into a run).
      const args = cmd.split(/\s+/).slice(2);
      const r = spawnSync(path.join(REPO, "node_modules/.bin/vitest"), ["list", ...args, "--filesOnly"], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
      expect(r.stderr).not.toMatch(/No projects matched/);
      expect(r.status).toBe(0);
      expect(r.stdout.split("\n").filter((l) => l.endsWith(".test.ts")).length).toBeGreaterThan(5);
    }
  });

  it("every other script names a file or tool that exists", () => {
    for (const [name, cmd] of Object.entries(pkg.scripts)) {
      if (cmd.startsWith("vitest run")) continue;
      const [tool, first] = cmd.split(/\s+/);
      if (tool === "node") expect(fs.existsSync(path.join(REPO, first!)), `${name}: ${first}`).toBe(true);
      else expect(fs.existsSync(path.join(REPO, "node_modules/.bin", tool!)), `${name}: ${tool}`).toBe(true);
    }
  });
});
