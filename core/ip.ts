// IP address text validation with Go's net.ParseIP / net.ParseCIDR acceptance, pure and cheap:
// used to refuse malformed results (prevResult) and by the netlink layer.
// (Not node:net's isIP: loading that module costs start-up time on every plugin exec.)
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

