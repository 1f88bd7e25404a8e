// The full, ordered check table.
import type { Check } from "../harness";
import { chainChecks } from "./chain";
import { errorChecks } from "./errors";
import { gcStatusChecks } from "./gc-status";
import { lifecycleChecks } from "./lifecycle";
import { versionChecks } from "./version";

export const ALL_CHECKS: Check[] = [...versionChecks, ...errorChecks, ...lifecycleChecks, ...chainChecks, ...gcStatusChecks];

/** Select checks by id prefix or glob (`lifecycle.*@1.0.0`, `env`, `gc.releases`). */
export function selectChecks(patterns: string[] | undefined, checks = ALL_CHECKS): Check[] {
  if (!patterns || patterns.length === 0) return checks;
  const res = patterns.map((p) => new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}`));
  return checks.filter((c) => res.some((re) => re.test(c.id) || re.test(c.family)));
}
