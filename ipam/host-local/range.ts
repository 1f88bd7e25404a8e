// One range: a subnet and the [rangeStart, rangeEnd] slice of it that is handed out, with the
// reference's defaults (gateway = network + 1, rangeStart = network + 1 — the gateway is skipped
// while iterating, so the first address handed out is .2 —, rangeEnd = the last address, minus
// the broadcast address for IPv4).
import { configError } from "../../core/errors";
import { optString, type JsonObject } from "../../core/json";
import { bits, formatIP, hostMask, parseIP, parseIPNet, type Family, type IP } from "../../core/ip";

export interface Range {
  family: Family;
  prefix: number;
  /** Network address (host bits zero). */
  network: bigint;
  /** IPv4 broadcast address; undefined for IPv6, which has none. */
  broadcast: bigint | undefined;
  start: bigint;
  end: bigint;
  gateway: bigint;
}

const ip = (r: Range, value: bigint): IP => ({ family: r.family, value });
export const fmt = (r: Range, value: bigint) => formatIP(ip(r, value));
export const rangeString = (r: Range) => `${fmt(r, r.start)}-${fmt(r, r.end)}`;

/** In [start, end] and of the same family: the reference's Range.Contains. */
export const rangeContains = (r: Range, a: IP) => a.family === r.family && a.value >= r.start && a.value <= r.end;
export const inSubnet = (r: Range, a: IP) => a.family === r.family && a.value >> BigInt(bits(r.family) - r.prefix) === r.network >> BigInt(bits(r.family) - r.prefix);

/**
 * Addresses never handed out even when inside [start, end]: the gateway, and the network and
 * broadcast addresses. (The reference hands out the network address if rangeStart names it
 * explicitly; we do not — no host can use it.)
 */
export const isExcluded = (r: Range, v: bigint) => v === r.gateway || v === r.network || v === r.broadcast;

export const overlaps = (a: Range, b: Range) => a.family === b.family && a.start <= b.end && b.start <= a.end;

/** Number of addresses in the range that can be handed out. */
export function usableCount(r: Range): bigint {
  let n = r.end - r.start + 1n;
  const excluded = new Set([r.gateway, r.network, r.broadcast].filter((v): v is bigint => v !== undefined));
  for (const v of excluded) if (v >= r.start && v <= r.end) n -= 1n;
  return n;
}

/** Parse and validate one range object; `path` names it in errors (e.g. `ipam.ranges[0][1]`). */
export function parseRange(obj: JsonObject, path: string): Range {
  const subnetText = optString(obj, "subnet", `${path}.subnet`);
  if (subnetText === undefined || subnetText === "") throw configError(`missing "${path}.subnet"`, "every range needs a subnet in CIDR form");
  const cidr = parseIPNet(subnetText);
  if (!cidr) throw configError(`invalid "${path}.subnet"`, `"${subnetText}" is not a CIDR (address/prefix length)`);
  const { family, value } = cidr.ip;
  const width = bits(family);
  // A /31 or /32 (/127, /128) has no address left once network and gateway are set aside.
  if (cidr.prefix > width - 2) throw configError(`invalid "${path}.subnet"`, `network ${subnetText} is too small to allocate from`);
  const mask = hostMask(family, cidr.prefix);
  const network = value & ~mask;
  if (network !== value) {
    throw configError(`invalid "${path}.subnet"`, `${subnetText} has host bits set; for /${cidr.prefix} the network address is ${formatIP({ family, value: network })}`);
  }
  const last = network | mask;
  const r: Range = {
    family,
    prefix: cidr.prefix,
    network,
    broadcast: family === 4 ? last : undefined,
    start: network + 1n,
    end: family === 4 ? last - 1n : last,
    gateway: network + 1n,
  };
  const addr = (key: string): bigint | undefined => {
    const text = optString(obj, key, `${path}.${key}`);
    if (text === undefined || text === "") return undefined;
    const a = parseIP(text);
    if (!a) throw configError(`invalid "${path}.${key}"`, `"${text}" is not an IP address`);
    if (a.family !== family) throw configError(`invalid "${path}.${key}"`, `${text} is not an IPv${family} address like subnet ${subnetText}`);
    if (!inSubnet(r, a)) throw configError(`invalid "${path}.${key}"`, `${text} is not in network ${subnetText}`);
    return a.value;
  };
  r.gateway = addr("gateway") ?? r.gateway;
  r.start = addr("rangeStart") ?? r.start;
  r.end = addr("rangeEnd") ?? r.end;
  if (r.start > r.end) throw configError(`invalid "${path}.rangeEnd"`, `${fmt(r, r.end)} is before rangeStart ${fmt(r, r.start)}`);
  if (usableCount(r) === 0n) {
    throw configError(`invalid "${path}"`, `range ${rangeString(r)} holds no usable address (only the gateway, network or broadcast address)`);
  }
  return r;
}
