// Packet-scheduler time units. tc_htb_opt/tc_tbf_qopt carry "buffer" as the time to send a burst
// at the rate, in psched ticks. iproute2 derives the tick length from /proc/net/psched; we do the
// same so `tc class show` prints the burst we asked for.
import * as fs from "node:fs";

export interface Psched {
  /** Ticks per microsecond (15.625 with 64 ns ticks on current kernels). */
  tickInUsec: number;
  /** Timer HZ as iproute2's get_hz() sees it (used for default bursts). */
  hz: number;
}

const TIME_UNITS_PER_SEC = 1_000_000;

/** Parse "t2us us2t clock_res hz" (hex words) exactly as iproute2's tc_core_init() and get_hz(). */
export function parsePsched(text: string): Psched {
  const [t2usRaw, us2t, clockRes, res4] = text.trim().split(/\s+/).map((w) => parseInt(w, 16));
  // Compatibility hack kept by iproute2: nanosecond kernels advertise a tick multiplier of 1000.
  const t2us = clockRes === 1_000_000_000 ? us2t : t2usRaw;
  const clockFactor = clockRes / TIME_UNITS_PER_SEC;
  const hz = clockRes === 1_000_000 && res4 ? res4 : 100;
  return { tickInUsec: (t2us / us2t) * clockFactor, hz };
}

let cached: Psched | undefined;
export function psched(): Psched {
  cached ??= (() => {
    try {
      return parsePsched(fs.readFileSync("/proc/net/psched", "utf8"));
    } catch {
      return { tickInUsec: 15.625, hz: 1_000_000_000 }; // what every current kernel reports
    }
  })();
  return cached;
}

/** tc_htb_opt.buffer / tc_tbf_qopt.buffer are u32 tick counts. */
export const MAX_TICKS = 0xffffffff;

// iproute2's tc_calc_xmittime without the range check: the time is truncated to whole
// microseconds (an unsigned int there) before scaling to ticks.
const ticksOf = (rateBytesPerSec: number, bytes: number, p: Psched) =>
  Math.floor(Math.floor(TIME_UNITS_PER_SEC * (bytes / rateBytesPerSec)) * p.tickInUsec);

/**
 * Ticks needed to send `bytes` at `rateBytesPerSec`, bit-for-bit like iproute2's tc_calc_xmittime,
 * so classes we create and classes `tc` creates with the same numbers are identical. A burst that
 * does not fit the u32 field is the caller's mistake (clamp it with maxXmitBytes first).
 */
export function xmitTicks(rateBytesPerSec: number, bytes: number, p: Psched = psched()): number {
  const ticks = ticksOf(rateBytesPerSec, bytes, p);
  if (ticks > MAX_TICKS) throw new RangeError(`burst ${bytes} bytes at ${rateBytesPerSec} B/s does not fit in 32-bit ticks`);
  return ticks;
}

/**
 * The largest burst in bytes whose send time at `rateBytesPerSec` still fits the u32 tick field
 * (274.9 s with 64 ns ticks): 274 bytes at 1 B/s, 64 KiB from 239 B/s, 4 GiB from 15.6 MB/s.
 * The estimate is corrected against the exact formula, so
 * xmitTicks(rate, maxXmitBytes(rate)) never throws and one byte more would.
 */
export function maxXmitBytes(rateBytesPerSec: number, p: Psched = psched()): number {
  // floor(usec × tick) ≤ MAX_TICKS ⟺ usec < 2^32 / tick; floor(1e6 × bytes / rate) ≤ maxUsec ⟺ bytes < (maxUsec + 1) × rate / 1e6
  const maxUsec = Math.ceil((MAX_TICKS + 1) / p.tickInUsec) - 1;
  let b = Math.max(0, Math.ceil(((maxUsec + 1) * rateBytesPerSec) / TIME_UNITS_PER_SEC) - 1);
  if (b >= Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER; // beyond any burst a number can hold exactly
  while (b > 0 && ticksOf(rateBytesPerSec, b, p) > MAX_TICKS) b--;
  while (ticksOf(rateBytesPerSec, b + 1, p) <= MAX_TICKS) b++;
  return b;
}

/** Bytes sent in `ticks` at `rateBytesPerSec` (iproute2 tc_calc_xmitsize). */
export function xmitBytes(rateBytesPerSec: number, ticks: number, p: Psched = psched()): number {
  return Math.round((rateBytesPerSec * (ticks / p.tickInUsec)) / TIME_UNITS_PER_SEC);
}
