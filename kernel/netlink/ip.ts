// Address helpers: IPv4/IPv6 strings ↔ bytes, CIDR parsing, MAC strings. Own code rather than a
// dependency because the CNI exec path must stay lean (ip-address costs ≈ 7 ms of start-up).
import { isIPv4, isIPv6 } from "../../core/ip";

export { isIPv4, isIPv6 };

export interface Cidr {
  /** 4 or 6 */
  family: 4 | 6;
  /** The address as written (host bits kept): "10.0.0.2". */
  address: string;
  prefixLen: number;
}

export function ipFamily(addr: string): 4 | 6 {
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  throw new TypeError(`invalid IP address "${addr}"`);
}

export function parseIp(addr: string): Buffer {
  if (isIPv4(addr)) return Buffer.from(addr.split(".").map(Number));
  if (!isIPv6(addr)) throw new TypeError(`invalid IP address "${addr}"`);
  let s = addr.split("%")[0];
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1].split(".").map(Number);
    s = s.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** 4 bytes → dotted quad, 16 bytes → RFC 5952 text (longest zero run compressed). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) return Buffer.from(b).toString("hex");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function parseCidr(cidr: string): Cidr {
  const slash = cidr.indexOf("/");
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = ipFamily(address);
  const max = family === 4 ? 32 : 128;
  const prefixLen = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max || (slash >= 0 && !/^\d+$/.test(cidr.slice(slash + 1)))) {
    throw new TypeError(`invalid prefix length in "${cidr}"`);
  }
  return { family, address, prefixLen };
}

/** The network address of a CIDR with host bits cleared ("10.0.0.2/24" → "10.0.0.0"). */
export function networkOf(c: Cidr): string {
  const b = parseIp(c.address);
  for (let i = 0; i < b.length; i++) {
    const bits = Math.max(0, Math.min(8, c.prefixLen - i * 8));
    b[i] &= (0xff << (8 - bits)) & 0xff;
  }
  return formatIp(b);
}

/** IPv4 broadcast address (host bits set); undefined for /31 and /32, which have none. */
export function broadcastOf(c: Cidr): string | undefined {
  if (c.family !== 4 || c.prefixLen >= 31) return undefined;
  const b = parseIp(c.address);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, c.prefixLen - i * 8));
    b[i] |= ~(0xff << (8 - bits)) & 0xff;
  }
  return formatIp(b);
}

export function parseMac(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length < 1 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new TypeError(`invalid MAC address "${mac}"`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export const formatMac = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
