// CNI_ARGS: "K1=V1;K2=V2". As libcni's types.LoadArgs: a pair without exactly one "=" is an
// error; IgnoreUnknown=1/true lets plugins skip keys they do not know.
import { envError } from "./errors";

export interface ParsedArgs {
  pairs: [string, string][];
  ignoreUnknown: boolean;
}

export function parseCniArgs(raw: string): ParsedArgs {
  const pairs: [string, string][] = [];
  let ignoreUnknown = false;
  if (raw === "") return { pairs, ignoreUnknown };
  for (const item of raw.split(";")) {
    if (item === "") continue;
    const kv = item.split("=");
    if (kv.length !== 2 || kv[0] === "") throw envError(`ARGS: invalid pair "${item}"`);
    const [k, v] = kv as [string, string];
    if (k.toLowerCase() === "ignoreunknown") {
      ignoreUnknown = v === "1" || v.toLowerCase() === "true";
      continue;
    }
    pairs.push([k, v]);
  }
  return { pairs, ignoreUnknown };
}

/**
 * Pick the keys a plugin understands. Unknown keys are an error unless IgnoreUnknown is set or
 * the key is one that runtimes send to every plugin (Kubernetes pod identity).
 */
export function pickArgs(parsed: ParsedArgs, known: readonly string[]): Map<string, string> {
  const common = ["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"];
  const out = new Map<string, string>();
  for (const [k, v] of parsed.pairs) {
    const match = known.find((n) => n.toLowerCase() === k.toLowerCase());
    if (match) out.set(match, v);
    else if (!parsed.ignoreUnknown && !common.includes(k)) throw envError(`ARGS: unknown args "${k}"`);
  }
  return out;
}
