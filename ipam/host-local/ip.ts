// IPv4/IPv6 addresses as (family, BigInt) pairs, parsed and printed exactly as Go's net package
// does (ParseIP, ParseCIDR, IP.String), because printed addresses are the store's file names and
// must be byte-identical to the reference plugin's. Own BigInt math rather than `ip-address`:
// these ~100 lines are all the allocator needs, load in no time on the exec path, and match Go's
// formatting rules by construction; `ip-address` serves as an independent oracle in unit tests.
export type Family = 4 | 6;

export interface IP {
  family: Family;
  value: bigint;
}

export const bits = (f: Family) => (f === 4 ? 32 : 128);

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


/** Go's net.ParseIP followed by the reference's canonicalizeIP: IPv4-mapped IPv6 becomes IPv4. */
export function parseIP(s: string): IP | undefined {
  if (!s.includes(":")) {
    const v = parseV4(s);
    return v === undefined ? undefined : { family: 4, value: v };
  }
  const v = parseV6(s);
  if (v === undefined) return undefined;
  if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
  return { family: 6, value: v };
}

/** Go's IP.String(): dotted quad, or RFC 5952 hex with the first longest run (≥ 2) of zero groups as "::". */
export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
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

export interface CIDR {
  ip: IP;
  prefix: number;
}

/**
 * Go's net.ParseCIDR keeping the address as written (types.ParseCIDR). An IPv4-mapped address
 * with an IPv6 prefix length is refused, as the reference's canonicalisation does.
 */
export function parseCIDR(s: string): CIDR | undefined {
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

/** Parse a requested address: Go's ip.ParseIP accepts "10.1.2.3" and "10.1.2.3/24" (mask ignored). */
export function parseIPOrCIDR(s: string): IP | undefined {
  return s.includes("/") ? parseCIDR(s)?.ip : parseIP(s);
}

export const hostMask = (f: Family, prefix: number) => (1n << BigInt(bits(f) - prefix)) - 1n;
