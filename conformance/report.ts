// Plain-text report: one row per check, one column per target.
import type { Check, CheckResult, Status } from "./harness";

const MARK: Record<Status, string> = {
  pass: "pass",
  fail: "FAIL",
  skip: "skip",
  unimpl: "UNIMPL",
  xfail: "xfail",
  xpass: "XPASS",
};

export function table(checks: Check[], runs: { label: string; results: CheckResult[] }[]): string {
  const rows = checks.map((c) => [c.id, ...runs.map((r) => MARK[r.results.find((x) => x.id === c.id)?.status ?? "skip"])]);
  const head = ["check", ...runs.map((r) => r.label)];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function details(runs: { label: string; results: CheckResult[] }[]): string {
  const out: string[] = [];
  for (const run of runs) {
    const interesting = run.results.filter((r) => r.status !== "pass");
    if (!interesting.length) continue;
    out.push(`\n== ${run.label}: details`);
    for (const r of interesting) {
      out.push(`${MARK[r.status].padEnd(6)} ${r.id}: ${r.detail || "(passed)"}`);
      if (r.expected) out.push(`       expected difference: ${r.expected}`);
    }
  }
  return out.join("\n");
}

export function summary(label: string, results: CheckResult[]): string {
  const n = (s: Status) => results.filter((r) => r.status === s).length;
  return `${label}: ${n("pass")} pass, ${n("xfail")} expected difference, ${n("unimpl")} not implemented, ${n("skip")} skipped, ${n("fail")} FAIL, ${n("xpass")} XPASS (stale expected difference)`;
}
