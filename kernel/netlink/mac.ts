// MAC address text ↔ bytes for the netlink codec's "mac" attributes. (IP addresses: core/ip.ts.)
export function parseMac(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length < 1 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new TypeError(`invalid MAC address "${mac}"`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export const formatMac = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
