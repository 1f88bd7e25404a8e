// `tscni daemon status|stop`: a control request over the daemon's socket (Node's net client is
// enough here: no descriptors travel). Also used by a configured daemon to stop a spawned one.
import * as net from "node:net";
import { BUILD_DIGEST } from "../self";
import { CONTROL, encodeRequest, parseAnswer } from "./protocol";
import type { StatusInfo } from "./server";

export function control(socket: string, what: keyof typeof CONTROL, timeoutMs = 5_000): Promise<StatusInfo | undefined> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ path: socket });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from ${socket} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (v: StatusInfo | undefined, e?: Error) => {
      clearTimeout(timer);
      c.destroy();
      if (e) reject(e);
      else resolve(v);
    };
    c.on("connect", () => c.write(encodeRequest({ digest: BUILD_DIGEST, argv0: CONTROL[what], env: {}, stdin: Buffer.alloc(0) })));
    c.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      try {
        const a = parseAnswer(buf);
        if (a?.reply) done(JSON.parse(a.reply.stdout) as StatusInfo);
      } catch (e) {
        done(undefined, e as Error);
      }
    });
    // No daemon: nothing to report or stop.
    c.on("error", (e: NodeJS.ErrnoException) => (e.code === "ENOENT" || e.code === "ECONNREFUSED" ? done(undefined) : done(undefined, e)));
    c.on("end", () => done(undefined));
  });
}
