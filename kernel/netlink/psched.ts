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

/**
 * Ticks needed to send `bytes` at `rateBytesPerSec`, bit-for-bit like iproute2's tc_calc_xmittime:
 * the time is truncated to whole microseconds (an unsigned int there) before scaling to ticks, so
 * classes we create and classes `tc` creates with the same numbers are identical.
 */
export function xmitTicks(rateBytesPerSec: number, bytes: number, p: Psched = psched()): number {
  const usec = Math.floor(TIME_UNITS_PER_SEC * (bytes / rateBytesPerSec));
  const ticks = Math.floor(usec * p.tickInUsec);
  if (ticks > 0xffffffff) throw new RangeError(`burst ${bytes} bytes at ${rateBytesPerSec} B/s does not fit in 32-bit ticks`);
  return ticks;
}

/** Bytes sent in `ticks` at `rateBytesPerSec` (iproute2 tc_calc_xmitsize). */
export function xmitBytes(rateBytesPerSec: number, ticks: number, p: Psched = psched()): number {
  return Math.round((rateBytesPerSec * (ticks / p.tickInUsec)) / TIME_UNITS_PER_SEC);
}
