// Starting the daemon's threads. The main thread never blocks (it answers operators, keeps time
// and hands out work), so two kinds of worker_threads do what blocks:
//   acceptor        waits in accept() on the listening socket and passes each connection's
//                   descriptor to the main thread (descriptors are per process: any thread may
//                   use the number). A few lines of its own, with the addon loaded directly.
//   request worker  the whole bundle, loaded as in the executable (in the SEA, by the same boot
//                   loader, with the trained code cache), running cli/daemon/worker.ts.
import type { Worker } from "node:worker_threads";
import { nativeAddonPath } from "../../kernel/native";
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

const ACCEPTOR = `
const { parentPort, workerData: d } = require("node:worker_threads");
const addon = { exports: {} };
process.dlopen(addon, d.addon);
const stop = new Int32Array(d.stop);
while (Atomics.load(stop, 0) === 0) {
  let fd;
  try {
    fd = addon.exports.unixAccept(d.fd, 250);
  } catch (e) {
    if (Atomics.load(stop, 0) === 0) parentPort.postMessage({ error: e.message });
    break;
  }
  if (fd >= 0) parentPort.postMessage({ fd });
}
`;

export interface Acceptor {
  worker: Worker;
  /** Stop accepting: the thread ends within a quarter of a second. */
  stop(): void;
}

export function startAcceptor(listenFd: number, onConnection: (fd: number) => void, onError: (msg: string) => void): Acceptor {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new (workerThreads().Worker)(ACCEPTOR, { eval: true, workerData: { fd: listenFd, addon: nativeAddonPath(), stop: stop.buffer } });
  worker.on("message", (m: { fd?: number; error?: string }) => (m.fd !== undefined ? onConnection(m.fd) : onError(m.error ?? "")));
  worker.on("error", (e) => onError(e.message));
  return { worker, stop: () => Atomics.store(stop, 0, 1) };
}
