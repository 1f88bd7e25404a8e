// Read the network configuration from stdin, bounded: a runtime never sends megabytes, and an
// unbounded read would let bad input exhaust memory.
import * as fs from "node:fs";
import { CniError, Code } from "../core/errors";

export const MAX_STDIN = 4 << 20;

export function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      if (code === "EOF" || code === "EBADF" || code === "ENXIO") break;
      throw new CniError(Code.IOFailure, "failed to read network config from stdin", (e as Error).message);
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_STDIN) throw new CniError(Code.DecodingFailure, "network config too large", `stdin exceeds ${MAX_STDIN} bytes`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}
