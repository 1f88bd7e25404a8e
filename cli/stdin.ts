// Read the network configuration from stdin, bounded (core/limits.ts): at most STDIN_LIMIT + 1
// bytes, so that the dispatcher sees a stdin over the limit and answers it as it does in the daemon.
import * as fs from "node:fs";
import { CniError, Code } from "../core/errors";
import { STDIN_LIMIT } from "../core/limits";

export function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  while (total <= STDIN_LIMIT) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, Math.min(buf.length, STDIN_LIMIT + 1 - total), null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      if (code === "EOF" || code === "EBADF" || code === "ENXIO") break;
      throw new CniError(Code.IOFailure, "failed to read network config from stdin", (e as Error).message);
    }
    if (n === 0) break;
    total += n;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}
