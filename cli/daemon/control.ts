// The operators' channel: `tscni daemon status|stop` talk to the daemon's main thread over a
// socket of its own, `<socket minus .sock>.ctl` (mode 0600, in the same root-only directory), one
// JSON line each way. It is served by the main thread's event loop, which never blocks on a
// request (requests run on worker threads), so it answers at once however busy the daemon is.
// A stop is answered when it begins ("stopping", with what is still in flight) and again, on the
// same connection, when the daemon is about to exit.
import * as fs from "node:fs";
import * as net from "node:net";
import type { PoolStats } from "./pool";
import type { RequestInfo } from "./session";

export interface InFlight extends Omit<RequestInfo, "deadline"> {
  ageMs: number;
  /** Ms until its own waits give up (negative: past its deadline). */
  leftMs: number;
}

export interface Counts {
  served: number;
  failed: number;
  timedOut: number;
  cancelled: number;
  refused: number;
  /** Past their deadline by so much that the daemon answered for them and gave up their worker. */
  abandoned: number;
}

export interface StatusInfo {
  pid: number;
  digest: string;
  socket: string;
  startedMs: number;
  spawned: boolean;
  stopping: boolean;
  workers: PoolStats;
  inFlight: InFlight[];
  counts: Counts;
  rssBytes: number;
  /** The main thread's V8 heap in use, and the request workers' (as of their last request). */
  heapUsedBytes: number;
  workersHeapUsedBytes: number;
}

export type ControlRequest = { op: "status" } | { op: "stop"; force: boolean; graceMs?: number };
export type ControlAnswer = { status: StatusInfo } | { stopping: StatusInfo } | { stopped: { pid: number; abandoned: number } } | { error: string };

/** The control socket that goes with a daemon socket. */
export const controlPath = (socket: string) => `${socket.replace(/\.sock$/, "")}.ctl`;

export interface ControlHandlers {
  status(): StatusInfo;
  /** Begin stopping; `onStopped` is called just before the process exits (maybe at once). */
  stop(req: Extract<ControlRequest, { op: "stop" }>, onStopped: (s: { pid: number; abandoned: number }) => void): void;
}

const line = (a: ControlAnswer) => `${JSON.stringify(a)}\n`;

/** Serve the control socket at `file` (replacing a stale one); only root can connect (0600). */
export function serveControl(file: string, h: ControlHandlers): Promise<net.Server> {
  fs.rmSync(file, { force: true });
  const server = net.createServer((c) => {
    let buf = "";
    c.setEncoding("utf8");
    c.on("error", () => {});
    c.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) {
        if (buf.length > 4096) c.destroy();
        return;
      }
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
      } catch {
        c.end(line({ error: "not a control request" }));
        return;
      }
      buf = "";
      if (req.op === "status") c.end(line({ status: h.status() }));
      else if (req.op === "stop") {
        c.write(line({ stopping: h.status() }));
        h.stop(req, (s) => c.end(line({ stopped: s })));
      }
      else c.end(line({ error: `unknown op` }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(file, () => {
      fs.chmodSync(file, 0o600);
      server.off("error", reject);
      resolve(server);
    });
  });
}

/**
 * Ask the daemon behind `socket`: the answers in order (a stop gets two), undefined when no daemon
 * listens. Gives up after `timeoutMs`, with what it got so far.
 */
export function control(socket: string, req: ControlRequest, timeoutMs = 5_000): Promise<ControlAnswer[] | undefined> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ path: controlPath(socket) });
    const answers: ControlAnswer[] = [];
    let buf = "";
    const done = (e?: Error) => {
      clearTimeout(timer);
      c.destroy();
      if (e) reject(e);
      else resolve(answers);
    };
    const timer = setTimeout(() => (answers.length ? done() : done(new Error(`no answer from ${controlPath(socket)} within ${timeoutMs} ms`))), timeoutMs);
    c.setEncoding("utf8");
    c.on("connect", () => c.write(`${JSON.stringify(req)}\n`));
    c.on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        answers.push(JSON.parse(buf.slice(0, nl)) as ControlAnswer);
        buf = buf.slice(nl + 1);
      }
    });
    c.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // No daemon: nothing to report or stop.
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") resolve(undefined);
      else reject(e);
    });
    c.on("close", () => done());
  });
}
