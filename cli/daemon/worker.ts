// A daemon worker thread: serves the connections the main thread hands it, one at a time, each
// through the same dispatcher as a plugin process (core/skel.ts). Being its own OS thread, it can
// block (in a lock wait, a tool, a slow kernel call) without delaying any other request, and its
// setns() moves only itself. What a request must not leave behind is checked after each one: the
// worker exits, and is replaced, if it ever finds itself outside the daemon's namespaces.
import * as fs from "node:fs";
import { enableInProcessDelegation } from "../../core/delegate";
import { disposeIdleWork, enableIdleWork, hasIdleWork, runIdleWork } from "../../core/idle";
import { childEnv } from "../../core/request";
import { dispatch } from "../../core/skel";
import { aliasNetns, strandInNetns, threadNsPath } from "../../kernel/netns";
import { unixSockets } from "../../kernel/unix-socket";
import { isPluginName, loadPlugin, PLUGIN_NAMES } from "../registry";
import { isThisBuild } from "../self";
import type { ConnMessage, WorkerData, WorkerMessage } from "./messages";
import type { Request } from "./protocol";
import { type Outcome, type SessionDeps, serveConnection } from "./session";
import { claimReply, IDLE, RUNNING, setState, stateOf, ABANDONED } from "./slot";

/**
 * Fault injection for the daemon's own tests, from TSCNI_DAEMON_FAULT in the daemon's environment:
 * before-read|before-reply make it SIGKILL itself (the whole process) at that point of a request;
 * spin makes a request whose container ID is "spin" loop forever (a bug no deadline can bound);
 * leave-netns makes a request whose container ID is "leave" end inside its container's namespace.
 */
const FAULT = process.env.TSCNI_DAEMON_FAULT;
const fault = (at: "before-read" | "before-reply") => {
  if (FAULT === at) process.kill(process.pid, "SIGKILL");
};
const spin = (req: Request) => {
  if (FAULT === "spin" && req.env.CNI_CONTAINERID === "spin") for (;;);
};
const leave = (req: Request, nsFd: number | undefined) => {
  if (FAULT === "leave-netns" && req.env.CNI_CONTAINERID === "leave" && nsFd !== undefined) strandInNetns(nsFd);
};

const inoOf = (p: string) => {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
};
const threadNsIno = (ns: "net" | "mnt") => inoOf(threadNsPath(ns));

/** One request, run as a plugin process would run it, with the request's environment (minus NODE_*). */
async function runRequest(req: Request, nsFd: number | undefined, deadline: number, cancelled: () => boolean): Promise<Outcome> {
  const plugin = await loadPlugin(req.argv0);
  if (!plugin) throw new Error(`not a plugin name: ${req.argv0}`);
  spin(req);
  // NODE_* is the runtime's, not ours: removed here as the shim removes it before the fallback.
  // (A plugin this request execs that calls this daemon again gets a worker of its own.)
  const env = childEnv(req.env);
  let stdout = "";
  let stderr = "";
  const go = () => dispatch(plugin, { env, stdin: req.stdin, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), deadline, cancelled });
  const netns = req.env.CNI_NETNS;
  const unalias = netns && nsFd !== undefined ? aliasNetns(netns, nsFd) : undefined;
  let exit: Awaited<ReturnType<typeof go>>;
  try {
    exit = await go();
  } finally {
    unalias?.();
  }
  leave(req, nsFd);
  fault("before-reply");
  return { exit, stdout, stderr };
}

/** This thread's V8 heap in use (process.memoryUsage() would report the process's RSS too, and cost more). */
const heapUsed = () => process.getBuiltinModule("node:v8").getHeapStatistics().used_heap_size;

export async function runWorker(): Promise<void> {
  const { parentPort, workerData } = process.getBuiltinModule("node:worker_threads");
  const data = workerData as WorkerData;
  const port = parentPort!;
  const post = (m: WorkerMessage) => port.postMessage(m);
  const slot = new Int32Array(data.slot);
  // This build's plugins found on CNI_PATH (an IPAM, say) run in-process, as in a plugin process.
  enableInProcessDelegation(loadPlugin, isThisBuild);
  // Warm: every plugin's code loaded before the first connection, not during it.
  await Promise.all(PLUGIN_NAMES.map((n) => loadPlugin(n)));
  // Between requests plugins may prepare for the next one (ebpf-bandwidth: its programs verified).
  enableIdleWork();
  /** End this thread: what idle work holds is the process's (descriptors), so it goes first. */
  const end = (code: number): never => {
    disposeIdleWork();
    process.exit(code);
  };

  const deps: SessionDeps = {
    sockets: unixSockets,
    digest: data.digest,
    ownNetIno: data.ownNetIno,
    netInoOf: (pid) => inoOf(`/proc/${pid}/ns/net`),
    servesName: isPluginName,
    limits: { maxRequestBytes: data.maxRequestBytes, readDeadlineMs: data.readDeadlineMs, replyTimeoutMs: data.replyTimeoutMs },
    now: Date.now,
    onAccepted: (info) => {
      setState(slot, RUNNING);
      post({ t: "accepted", info });
    },
    run: runRequest,
    claimReply: () => claimReply(slot),
    abandoned: () => stateOf(slot) === ABANDONED,
  };

  port.on("message", async (m: ConnMessage) => {
    if (m.t === "retire") end(0);
    if (m.t !== "conn") return;
    fault("before-read");
    const fds: number[] = [];
    let result: Awaited<ReturnType<typeof serveConnection>>;
    try {
      result = await serveConnection(m.fd, deps, fds);
    } catch (e) {
      post({ t: "log", line: `request failed: ${(e as Error).stack ?? e}` });
      result = "failed";
    } finally {
      for (const fd of [...fds, m.fd]) {
        try {
          unixSockets.close(fd);
        } catch {
          /* already closed */
        }
      }
    }
    setState(slot, IDLE);
    // A request must never leave this thread elsewhere: every later request would run there.
    if (threadNsIno("net") !== data.ownNetIno || threadNsIno("mnt") !== data.ownMntIno) {
      post({ t: "done", result, heapUsed: heapUsed() });
      post({ t: "fatal", why: "a request left the worker outside the daemon's namespaces" });
      end(70); // this worker only; the main thread starts another
    }
    // After the reply, never before: the caller does not wait for this, and while it runs the
    // main thread gives new connections to other idle workers first ("settling").
    const idle = hasIdleWork();
    post({ t: "done", result, heapUsed: heapUsed(), ...(idle ? { settling: true } : {}) });
    if (!idle) return;
    for (const e of runIdleWork()) post({ t: "log", line: `idle work failed: ${(e as Error).message ?? e}` });
    post({ t: "settled" });
  });
  post({ t: "ready" });
}
