// Starting the daemon's threads. The main thread never blocks (it answers operators, keeps time
// and hands out work), so two kinds of worker_threads do what blocks:
//   acceptor        waits in accept() on the listening socket and passes each connection's
//                   descriptor to the main thread (descriptors are per process: any thread may
//                   use the number): kernel/unix-socket.ts startAcceptor.
//   request worker  the whole bundle, loaded as in the executable (in the SEA, by the same boot
//                   loader, with the trained code cache), running cli/daemon/worker.ts.
import type { Worker } from "node:worker_threads";
import { seaAsset } from "../../kernel/sea";
import type { WorkerData } from "./messages";

const workerThreads = () => process.getBuiltinModule("node:worker_threads");

/** How cli/main.ts tells a request worker from a process: set before the bundle runs. */
export const WORKER_FLAG = "__tscniRequestWorker";

/** The bundle's own file when run by `node` (not in the executable). */
declare const __filename: string | undefined;

function bundleSource(): string {
  const boot = seaAsset("boot.cjs");
  const flag = `globalThis.${WORKER_FLAG} = true;\n`;
  if (boot) return flag + boot.toString("utf8");
  if (typeof __filename !== "string" || !__filename.endsWith(".cjs")) throw new Error("the daemon's workers need the built bundle (npm run build)");
  return `${flag}require(${JSON.stringify(__filename)});`;
}

let source: string | undefined;

/**
 * A request worker's heap is bounded: one that runs away ends (ERR_WORKER_OUT_OF_MEMORY) and is
 * replaced, instead of taking the process and every other request with it. A warm worker costs
 * ≈ 12 MiB (≈ 9 of them Node's own per-thread environment).
 */
const WORKER_HEAP = { maxOldGenerationSizeMb: 256 };

export function startRequestWorker(data: WorkerData): Worker {
  source ??= bundleSource();
  return new (workerThreads().Worker)(source, { eval: true, workerData: data, resourceLimits: WORKER_HEAP });
}
