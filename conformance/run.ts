// CLI: npx tsx conformance/run.ts [--plugins [label=]DIR]... [--ours] [--only PATTERN]...
//        [--fixture FILE] [--chain-fixture FILE] [--allow-unimplemented] [--json FILE] [--verbose]
// Without --plugins/--ours it runs ours (dist/tscni) and the reference (/usr/lib/cni) side by side.
// Exit 1 on FAIL or XPASS (and on UNIMPL unless --allow-unimplemented).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { selectChecks } from "./checks/index";
import { CONFORMANCE_DIR, type CheckResult, Run, type Target, isBad, loadExpectations } from "./harness";
import { details, summary, table } from "./report";

export const REFERENCE_DIR = "/usr/lib/cni";
export const DEFAULT_FIXTURE = path.join(CONFORMANCE_DIR, "fixtures/bridge-host-local.conflist");
export const DEFAULT_CHAIN_FIXTURE = path.join(CONFORMANCE_DIR, "fixtures/bridge-host-local-bandwidth.conflist");
const DIST_BIN = path.resolve(CONFORMANCE_DIR, "../dist/tscni");

/** A private bin dir with our multi-call executable under each plugin name (argv[0] dispatch). */
export function ourPluginDir(bin = DIST_BIN): string {
  if (!fs.existsSync(bin)) throw new Error(`${bin} not built: run npm run build`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cni-conf-ours-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  for (const name of ["bridge", "host-local", "ebpf-bandwidth", "loopback"]) fs.linkSync(bin, path.join(dir, name));
  return dir;
}

export function makeTarget(label: string, dir: string): Target {
  return { label, dir, aliases: loadExpectations().aliases[label] ?? {} };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      plugins: { type: "string", multiple: true },
      ours: { type: "boolean" },
      only: { type: "string", multiple: true },
      fixture: { type: "string" },
      "chain-fixture": { type: "string" },
      "allow-unimplemented": { type: "boolean" },
      json: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      list: { type: "boolean" },
    },
  });
  const checks = selectChecks(values.only);
  if (values.list) {
    for (const c of checks) console.log(`${c.id.padEnd(34)} ${c.title}  [${c.spec}]`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error("conformance: needs root (network namespaces)");
    return 2;
  }
  const targets: Target[] = [];
  if (values.ours) targets.push(makeTarget("ours", ourPluginDir()));
  for (const spec of values.plugins ?? []) {
    const [label, dir] = spec.includes("=") ? (spec.split("=", 2) as [string, string]) : [path.resolve(spec) === REFERENCE_DIR ? "reference" : path.basename(spec), spec];
    targets.push(makeTarget(label, path.resolve(dir)));
  }
  if (targets.length === 0) targets.push(makeTarget("ours", ourPluginDir()), makeTarget("reference", REFERENCE_DIR));

  const expectations = loadExpectations();
  const runs: { label: string; results: CheckResult[] }[] = [];
  for (const target of targets) {
    process.stderr.write(`conformance: ${target.label} (${target.dir}): ${checks.length} checks\n`);
    const run = new Run({
      target,
      checks,
      fixture: values.fixture ?? DEFAULT_FIXTURE,
      chainFixture: values["chain-fixture"] ?? DEFAULT_CHAIN_FIXTURE,
      expectations,
      onResult: (r) => values.verbose && process.stderr.write(`  ${r.status.padEnd(6)} ${r.id} (${r.ms.toFixed(0)} ms)${r.detail ? `: ${r.detail.split("\n")[0]}` : ""}\n`),
    });
    runs.push({ label: target.label, results: await run.runAll() });
  }
  console.log(table(checks, runs));
  console.log(details(runs));
  console.log("");
  for (const r of runs) console.log(summary(r.label, r.results));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(runs, null, 2));
  const bad = runs.some((r) => r.results.some((x) => isBad(x.status, values["allow-unimplemented"] ?? false)));
  return bad ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(CONFORMANCE_DIR, "run.ts")) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(2);
    },
  );
}
