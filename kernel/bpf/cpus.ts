// Per-CPU map values: the kernel copies one slot per *possible* CPU, each rounded up to 8 bytes.
import * as fs from "node:fs";

let cached: number | undefined;

/** Number of possible CPUs, from /sys/devices/system/cpu/possible ("0-1", "0,2-5"). */
export function possibleCpus(): number {
  if (cached !== undefined) return cached;
  cached = parseCpuList(fs.readFileSync("/sys/devices/system/cpu/possible", "utf8"));
  return cached;
}

export function parseCpuList(text: string): number {
  let n = 0;
  for (const part of text.trim().split(",")) {
    if (!part) continue;
    const [a, b] = part.split("-").map((x) => Number.parseInt(x, 10));
    if (a === undefined || Number.isNaN(a)) throw new Error(`bad cpu list: ${text}`);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

export const perCpuSlot = (valueSize: number) => Math.ceil(valueSize / 8) * 8;
