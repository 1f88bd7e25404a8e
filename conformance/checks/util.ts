// Assertions shared by the check families.
import { type CheckContext, type Conflist, type InvokeResult, describe, errorOf, expect, fail } from "../harness";
import { errorProblems } from "../shape";

/** Non-zero exit with a well-formed error JSON on stdout, optionally with one of the given codes. */
export function expectError(r: InvokeResult, codes?: number | number[], what = ""): void {
  const want = codes === undefined ? undefined : Array.isArray(codes) ? codes : [codes];
  expect(r.code !== 0, () => `${what}expected failure, got success: ${describe(r)}`);
  const problems = errorProblems(r.json);
  expect(problems.length === 0, () => `${what}error output malformed (${problems.join("; ")}): ${describe(r)}`);
  if (want) expect(want.includes(errorOf(r)!.code), () => `${what}expected error code ${want.join(" or ")}, got ${describe(r)}`);
}

export function expectOk(r: InvokeResult, what = ""): void {
  expect(r.code === 0, () => `${what}failed: ${describe(r)}`);
}

/** Success with no output, as spec'd for CHECK, DEL, GC and STATUS. */
export function expectOkSilent(r: InvokeResult, what = ""): void {
  expectOk(r, what);
  expect(r.stdout.trim() === "", () => `${what}succeeded but printed ${JSON.stringify(r.stdout.trim().slice(0, 200))} (spec: no output on success)`);
}

/** The newest version every plugin of the conflist claims (the one a runtime would pick). */
export function preferredVersion(ctx: CheckContext, conf: Conflist): string {
  const v = ctx.versionsFor(conf).at(-1);
  if (!v) fail(`plugins ${ctx.typesOf(conf).join(", ")} share no supported version (VERSION probe: ${JSON.stringify(Object.fromEntries(ctx.claimed))})`);
  return v!;
}

/** The main fixture at the preferred version, with every plugin present. */
export function mainFixture(ctx: CheckContext, range?: [number, number]): Conflist {
  const conf = ctx.fixture(undefined, range);
  ctx.requirePlugins(conf);
  conf.cniVersion = preferredVersion(ctx, conf);
  return conf;
}
