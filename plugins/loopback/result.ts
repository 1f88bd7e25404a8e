// Pure parts of loopback: which addresses count as loopback (Go's net.IP.IsLoopback), and the result
// the reference plugin reports: `lo` with the all-zero MAC, the first IPv4 and the first IPv6
// address found on it.
import { CniError, Code } from "../../core/errors";
import type { Result } from "../../core/result/types";
import { parseIpBytes } from "../../core/ip";

export const LO = "lo";
/** What the reference reports for lo (it never reads the device's address). */
export const LO_MAC = "00:00:00:00:00:00";

export interface LoAddr {
  family: 4 | 6;
  /** "127.0.0.1/8" */
  cidr: string;
  address: string;
}

/** 127.0.0.0/8, ::1, and 127/8 written as an IPv4-mapped IPv6 address (Go folds those to IPv4). */
export function isLoopbackIp(address: string): boolean {
  const b = parseIpBytes(address);
  if (b.length === 4) return b[0] === 127;
  const mapped = b.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]));
  if (mapped) return b[12] === 127;
  return b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
}

/** Refuse a `lo` carrying anything else (an anycast or service address): not ours to report. */
export function assertOnlyLoopback(addrs: readonly LoAddr[]): void {
  const other = addrs.find((a) => !isLoopbackIp(a.address));
  if (other) {
    throw new CniError(Code.ForeignState, `loopback interface found with non-loopback address "${other.address}"`, "lo was left as it is");
  }
}

export function loopbackResult(cniVersion: string, netns: string, addrs: readonly LoAddr[]): Result {
  const ips = [addrs.find((a) => a.family === 4), addrs.find((a) => a.family === 6)]
    .filter((a): a is LoAddr => a !== undefined)
    .map((a) => ({ interface: 0, address: a.cidr }));
  return {
    cniVersion,
    interfaces: [{ name: LO, mac: LO_MAC, sandbox: netns }],
    ...(ips.length ? { ips } : {}),
  };
}

/**
 * CHECK against prevResult: the addresses it reports on `lo` in this sandbox must still be there.
 * Addresses of other interfaces (a prevResult passed through from an earlier plugin) are skipped.
 */
export function missingAddresses(prev: Result | undefined, netns: string, present: readonly LoAddr[]): string[] {
  if (!prev) return [];
  const ifs = prev.interfaces ?? [];
  const onLo = (i: number | undefined) => i !== undefined && ifs[i]?.name === LO && (ifs[i]?.sandbox ?? netns) === netns;
  const have = new Set(present.map((a) => parseIpBytes(a.address).toString("hex") + `/${a.cidr.split("/")[1]}`));
  return (prev.ips ?? [])
    .filter((ip) => onLo(ip.interface))
    .map((ip) => ip.address)
    .filter((cidr) => {
      const [addr, len] = cidr.split("/");
      return !have.has(`${parseIpBytes(addr!).toString("hex")}/${len}`);
    });
}
