// Loads the Kubernetes client (cli/kube/client.ts). In the executable it is a bundle of its own,
// carried as the asset tscni-k8s.cjs and compiled here only when needed, the way
// pkg-config/boot.cjs compiles the main bundle: the ≈ 2 MB of the client library are never parsed
// by a plugin call. From source (tsx, vitest) the package is imported directly; the main bundle
// keeps it external (scripts/build.mjs), so that import is never reached in the executable.
import * as path from "node:path";
import * as vm from "node:vm";
import { seaAsset } from "../../kernel/sea";

export const K8S_ASSET = "tscni-k8s.cjs";

export type KubeClient = typeof import("./client");

let loaded: KubeClient | undefined;

export async function loadKubeClient(): Promise<KubeClient> {
  if (loaded) return loaded;
  const asset = seaAsset(K8S_ASSET); // throws inside an executable built without it
  loaded = asset ? compile(asset.toString("utf8")) : await import("./client");
  return loaded;
}

function compile(text: string): KubeClient {
  const fn = new vm.Script(`(function (require, module, exports, __filename, __dirname) {${text}\n})`, { filename: K8S_ASSET }).runInThisContext() as (
    ...args: unknown[]
  ) => void;
  const mod = { exports: {} as Record<string, unknown> };
  const dir = path.dirname(process.execPath);
  fn(builtinRequire, mod, mod.exports, path.join(dir, K8S_ASSET), dir);
  return mod.exports as unknown as KubeClient;
}

/** The bundle carries its packages; what it still requires are Node's own modules, or optional ones it does without. */
function builtinRequire(id: string): unknown {
  const m = process.getBuiltinModule(id);
  if (m === undefined) throw Object.assign(new Error(`Cannot find module '${id}'`), { code: "MODULE_NOT_FOUND" });
  return m;
}
