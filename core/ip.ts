// IP addresses, the one module for all of them (pure, imports nothing): text validation, parsing
// and printing exactly as Go's net and net/netip packages do, as (family, BigInt) values and as
// the 4- or 16-byte form netlink carries. Own code rather than a dependency: the exec path must
// stay lean (node:net costs start-up, `ip-address` ≈ 7 ms); `ip-address` and node:net serve as
// oracles in the unit tests (test/unit/ip.test.ts, ip-validate.test.ts, host-local.test.ts).
//
// Go has two printers, and they differ only on an IPv4-mapped IPv6 address (::ffff:a.b.c.d):
//   formatIP   net.IP.String(): "a.b.c.d". What the reference host-local writes to its store's
//              file names and results, so what ours must write (ipam/host-local).
//   formatAddr netip.Addr.String(): "::ffff:a.b.c.d", keeping the family, so that text and
//              bytes round-trip (the netlink codec: a 16-byte attribute decodes to text that
//              encodes back to the same 16 bytes; bridge, which keeps the family it was given).
// Parsing likewise: parseAddr keeps the family as written (netip.ParseAddr), parseIP canonicalises
// an IPv4-mapped address to IPv4 as the reference's host-local does (net.ParseIP, then To4).
const V4_OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const V4_RE = new RegExp(`^${V4_OCTET}(\\.${V4_OCTET}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export const isIPv4 = (s: string): boolean => V4_RE.test(s);

export function isIPv6(addr: string): boolean {
  let s = addr;
  const pct = s.indexOf("%");
  if (pct >= 0) {
    if (pct === s.length - 1) return false;
    s = s.slice(0, pct);
  }
  let groupsFromV4 = 0;
  const lastColon = s.lastIndexOf(":");
  if (lastColon >= 0 && s.slice(lastColon + 1).includes(".")) {
    if (!isIPv4(s.slice(lastColon + 1))) return false;
    s = s.slice(0, lastColon + 1) + "0"; // stand-in group; the tail counts as two
    groupsFromV4 = 1;
  }
  const dbl = s.indexOf("::");
  if (dbl >= 0 && s.indexOf("::", dbl + 1) >= 0) return false;
  const parts = (dbl >= 0 ? [s.slice(0, dbl), s.slice(dbl + 2)] : [s]).map((p) => (p === "" ? [] : p.split(":")));
  const groups = parts.flat();
  if (!groups.every((g) => HEX_GROUP.test(g))) return false;
  const count = groups.length + groupsFromV4;
  return dbl >= 0 ? count <= 7 : count === 8;
}

/** "addr/prefix" as Go's net.ParseCIDR accepts it (host bits allowed, no zone). */
export function isCidr(s: string): boolean {
  const slash = s.indexOf("/");
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return false;
  if (isIPv4(ip)) return Number(len) <= 32;
  return !ip.includes("%") && isIPv6(ip) && Number(len) <= 128;
}

export const isIP = (s: string): boolean => isIPv4(s) || isIPv6(s);

export type Family = 4 | 6;

/** An address as its family and its value (32 or 128 bits). */
export interface IP {
  family: Family;
  value: bigint;
}

export const bits = (f: Family) => (f === 4 ? 32 : 128);

export const hostMask = (f: Family, prefix: number) => (1n << BigInt(bits(f) - prefix)) - 1n;

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go ≥ 1.17 refuses leading zeros (ambiguous octal) and anything but decimal digits.
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  let tail: bigint | undefined;
  if (s.includes(".")) {
    // An embedded IPv4 address may only end the string; it stands for the last two groups.
    const i = s.lastIndexOf(":");
    tail = parseV4(s.slice(i + 1));
    if (tail === undefined) return undefined;
    s = s.slice(0, i + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const n = left.length + right.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return undefined; // "::" stands for ≥ 1 group (Go)
  const all = [...left, ...Array<string>(8 - n).fill("0"), ...right];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return tail === undefined ? v : v | tail;
}

const isMapped = (ip: IP) => ip.family === 6 && ip.value >> 32n === 0xffffn;

/** Go's netip.ParseAddr, zones refused: the family as written ("::ffff:1.2.3.4" is IPv6). */
export function parseAddr(s: string): IP | undefined {
  if (!s.includes(":")) {
    const v = parseV4(s);
    return v === undefined ? undefined : { family: 4, value: v };
  }
  const v = parseV6(s);
  return v === undefined ? undefined : { family: 6, value: v };
}

/** Go's net.ParseIP followed by the reference's canonicalizeIP (To4): IPv4-mapped IPv6 becomes IPv4. */
export function parseIP(s: string): IP | undefined {
  const ip = parseAddr(s);
  if (ip && isMapped(ip)) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

function dotted(v32: bigint): string {
  const v = Number(v32);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 hex, the first longest run (≥ 2) of zero groups as "::" (Go's rule). */
function v6Text(value: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** Go's net.IP.String(): dotted quad for IPv4 and for IPv4-mapped IPv6 ("::ffff:1.2.3.4" → "1.2.3.4"), else RFC 5952. */
export function formatIP(ip: IP): string {
  if (ip.family === 4 || isMapped(ip)) return dotted(ip.value & 0xffffffffn);
  return v6Text(ip.value);
}

/** Go's netip.Addr.String(): as formatIP, except that IPv4-mapped IPv6 keeps its family: "::ffff:1.2.3.4". */
export function formatAddr(ip: IP): string {
  if (ip.family === 4) return dotted(ip.value);
  if (isMapped(ip)) return `::ffff:${dotted(ip.value & 0xffffffffn)}`;
  return v6Text(ip.value);
}

/** An address with a prefix length, as values. */
export interface IPNet {
  ip: IP;
  prefix: number;
}

/**
 * Go's net.ParseCIDR keeping the address as written (types.ParseCIDR), canonicalised as the
 * reference's host-local does: an IPv4-mapped address with an IPv6 prefix length is refused.
 */
export function parseIPNet(s: string): IPNet | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return undefined;
  const prefix = Number(len);
  const ip = parseIP(addr);
  if (!ip) return undefined;
  const written: Family = addr.includes(":") ? 6 : 4;
  if (written !== ip.family) return undefined;
  if (prefix > bits(ip.family)) return undefined;
  return { ip, prefix };
}

/**
 * Go's net.IPNet.String() for an address and a mask of `prefix` bits of its family: an IPv4-mapped
 * IPv6 address prints as IPv4 with the mask's last 32 bits ("::ffff:0:5" in a /120 → "0.0.0.5/24").
 */
export function formatIPNet(ip: IP, prefix: number): string {
  if (isMapped(ip)) return `${formatIP(ip)}/${Math.max(0, prefix - 96)}`;
  return `${formatIP(ip)}/${prefix}`;
}

/** Parse a requested address: Go's ip.ParseIP accepts "10.1.2.3" and "10.1.2.3/24" (mask ignored). */
export function parseIPOrCIDR(s: string): IP | undefined {
  return s.includes("/") ? parseIPNet(s)?.ip : parseIP(s);
}

// The text ↔ bytes helpers of the netlink layer and bridge: the family as written (netip), and a
// TypeError for what does not parse.

export function ipFamily(addr: string): Family {
  const ip = parseAddr(addr);
  if (!ip) throw new TypeError(`invalid IP address "${addr}"`);
  return ip.family;
}

function toBytes(ip: IP): Buffer {
  const n = ip.family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Number((ip.value >> BigInt((n - 1 - i) * 8)) & 0xffn);
  return out;
}

/** "10.0.0.2" → 4 bytes, "fd00::2" and "::ffff:1.2.3.4" → 16 bytes. */
export function parseIpBytes(addr: string): Buffer {
  const ip = parseAddr(addr);
  if (!ip) throw new TypeError(`invalid IP address "${addr}"`);
  return toBytes(ip);
}

/** 4 or 16 bytes → formatAddr's text; any other length as Go prints it ("?" and hex; "<nil>" when empty). */
export function formatIpBytes(b: Uint8Array): string {
  if (b.length === 0) return "<nil>";
  if (b.length !== 4 && b.length !== 16) return `?${Buffer.from(b).toString("hex")}`;
  const value = b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
  return formatAddr({ family: b.length === 4 ? 4 : 6, value });
}

/** An address with a prefix length, as text (the address as written, host bits kept). */
export interface Cidr {
  family: Family;
  /** The address as written: "10.0.0.2". */
  address: string;
  prefixLen: number;
}

/** "addr/prefix" (a bare address is a host prefix: /32 or /128); a TypeError naming what is wrong. */
export function parseCidr(cidr: string): Cidr {
  const slash = cidr.indexOf("/");
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = ipFamily(address);
  const max = bits(family);
  const prefixLen = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max || (slash >= 0 && !/^\d+$/.test(cidr.slice(slash + 1)))) {
    throw new TypeError(`invalid prefix length in "${cidr}"`);
  }
  return { family, address, prefixLen };
}

/** The network address of a CIDR with host bits cleared ("10.0.0.2/24" → "10.0.0.0"). */
export function networkOf(c: Cidr): string {
  const ip = parseAddr(c.address)!;
  return formatAddr({ family: ip.family, value: ip.value & ~hostMask(ip.family, c.prefixLen) });
}

/** IPv4 broadcast address (host bits set); undefined for /31 and /32, which have none. */
export function broadcastOf(c: Cidr): string | undefined {
  if (c.family !== 4 || c.prefixLen >= 31) return undefined;
  const ip = parseAddr(c.address)!;
  return formatAddr({ family: 4, value: ip.value | hostMask(4, c.prefixLen) });
}
