// Results on the wire, per spec version, and the hub-and-spoke conversion between them: every
// wire version is parsed into the current model (types.ts) and printed from it. Field order and
// omission follow libcni's Go structs so output is byte-comparable with the reference plugins
// (`"dns": {}` is always present, as Go never omits a struct).
import { CniError, Code } from "../errors";
import { isCidr, isIP } from "../ip";
import { isObject, type JsonObject } from "../json";
import type { DNS, Interface, IPConfig, Result, Route } from "./types";

export type Family = "0.2" | "0.4" | "1.0" | "1.1";

/** 0.1.0/0.2.0 share a shape; 0.3.0/0.3.1/0.4.0 share one; 1.0.0 and 1.1.0 differ only in optional fields. */
export function familyOf(version: string): Family {
  switch (version) {
    case "0.1.0":
    case "0.2.0":
      return "0.2";
    case "0.3.0":
    case "0.3.1":
    case "0.4.0":
      return "0.4";
    case "1.0.0":
      return "1.0";
    case "1.1.0":
      return "1.1";
  }
  throw new CniError(Code.IncompatibleCNIVersion, `unsupported result version "${version}"`);
}

const bad = (what: string) => new CniError(Code.DecodingFailure, "failed to parse result", what);

// ---------- parsing (wire → model) ----------

export function parseResult(json: unknown, version: string): Result {
  if (!isObject(json)) throw bad("result is not a JSON object");
  const fam = familyOf(version);
  return fam === "0.2" ? parse02(json, version) : parse04Plus(json, version);
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw bad(`${what} must be a string`);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, what);
}

/** Addresses are checked as Go's types do (net.ParseCIDR / net.ParseIP) when it decodes a result. */
function cidr(v: unknown, what: string): string {
  const s = str(v, what);
  if (!isCidr(s)) throw bad(`${what} "${s}" is not an address with a prefix length (CIDR)`);
  return s;
}

function optIP(v: unknown, what: string): string | undefined {
  const s = optStr(v, what);
  if (s !== undefined && !isIP(s)) throw bad(`${what} "${s}" is not an IP address`);
  return s;
}

function optNum(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(`${what} must be an integer`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${what} must be an array`);
  return v;
}

function parseRoute(r: unknown, what: string): Route {
  if (!isObject(r)) throw bad(`${what} must be an object`);
  const route: Route = { dst: cidr(r.dst, `${what}.dst`) };
  const gw = optIP(r.gw, `${what}.gw`);
  if (gw !== undefined) route.gw = gw;
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const n = optNum(r[k], `${what}.${k}`);
    if (n !== undefined) route[k] = n;
  }
  return route;
}

function parseDns(v: unknown): DNS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad("dns must be an object");
  const dns: DNS = {};
  const list = (x: unknown, w: string) => arr(x, w).map((s, i) => str(s, `${w}[${i}]`));
  if (v.nameservers !== undefined) dns.nameservers = list(v.nameservers, "dns.nameservers");
  if (v.domain !== undefined) dns.domain = str(v.domain, "dns.domain");
  if (v.search !== undefined) dns.search = list(v.search, "dns.search");
  if (v.options !== undefined) dns.options = list(v.options, "dns.options");
  return dns;
}

function parse04Plus(j: JsonObject, version: string): Result {
  const res: Result = { cniVersion: version };
  const ifs = arr(j.interfaces, "interfaces").map((x, i): Interface => {
    if (!isObject(x)) throw bad(`interfaces[${i}] must be an object`);
    const itf: Interface = { name: str(x.name, `interfaces[${i}].name`) };
    const mac = optStr(x.mac, `interfaces[${i}].mac`);
    if (mac !== undefined) itf.mac = mac;
    const mtu = optNum(x.mtu, `interfaces[${i}].mtu`);
    if (mtu !== undefined) itf.mtu = mtu;
    for (const k of ["sandbox", "socketPath", "pciID"] as const) {
      const s = optStr(x[k], `interfaces[${i}].${k}`);
      if (s !== undefined) itf[k] = s;
    }
    return itf;
  });
  if (ifs.length) res.interfaces = ifs;
  const ips = arr(j.ips, "ips").map((x, i): IPConfig => {
    if (!isObject(x)) throw bad(`ips[${i}] must be an object`);
    const ip: IPConfig = { address: cidr(x.address, `ips[${i}].address`) };
    const gw = optIP(x.gateway, `ips[${i}].gateway`);
    if (gw !== undefined) ip.gateway = gw;
    const idx = optNum(x.interface, `ips[${i}].interface`);
    if (idx !== undefined) ip.interface = idx;
    return ip;
  });
  if (ips.length) res.ips = ips;
  const routes = arr(j.routes, "routes").map((r, i) => parseRoute(r, `routes[${i}]`));
  if (routes.length) res.routes = routes;
  const dns = parseDns(j.dns);
  if (dns) res.dns = dns;
  return res;
}

function parse02(j: JsonObject, version: string): Result {
  const res: Result = { cniVersion: version };
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  for (const key of ["ip4", "ip6"] as const) {
    const c = j[key];
    if (c === undefined || c === null) continue;
    if (!isObject(c)) throw bad(`${key} must be an object`);
    const ip: IPConfig = { address: cidr(c.ip, `${key}.ip`) };
    const gw = optIP(c.gateway, `${key}.gateway`);
    if (gw !== undefined) ip.gateway = gw;
    ips.push(ip);
    arr(c.routes, `${key}.routes`).forEach((r, i) => routes.push(parseRoute(r, `${key}.routes[${i}]`)));
  }
  if (ips.length) res.ips = ips;
  if (routes.length) res.routes = routes;
  const dns = parseDns(j.dns);
  if (dns) res.dns = dns;
  return res;
}

// ---------- printing (model → wire) ----------

/** The family of an address or CIDR already validated by the parser (core/ip.ts checks the text): no colon is IPv4. */
const inV4Family = (validated: string) => !validated.includes(":");

/** Convert the model to the wire object of `version`, with Go's field order and omissions. */
export function toWire(result: Result, version: string): JsonObject {
  const fam = familyOf(version);
  if (fam === "0.2") return to02(result, version);
  const out: JsonObject = { cniVersion: version };
  const full = fam === "1.1";
  if (result.interfaces?.length) out.interfaces = result.interfaces.map((i) => wireInterface(i, full));
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => {
      const o: JsonObject = {};
      if (fam === "0.4") o.version = inV4Family(ip.address) ? "4" : "6";
      if (ip.interface !== undefined) o.interface = ip.interface;
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => wireRoute(r, full));
  out.dns = wireDns(result.dns);
  return out;
}

function wireInterface(i: Interface, full: boolean): JsonObject {
  const o: JsonObject = { name: i.name };
  if (i.mac) o.mac = i.mac;
  if (full && i.mtu) o.mtu = i.mtu;
  if (i.sandbox) o.sandbox = i.sandbox;
  if (full && i.socketPath) o.socketPath = i.socketPath;
  if (full && i.pciID) o.pciID = i.pciID;
  return o;
}

function wireRoute(r: Route, full: boolean): JsonObject {
  const o: JsonObject = { dst: r.dst };
  if (r.gw) o.gw = r.gw;
  if (full) {
    for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      if (r[k] !== undefined) o[k] = r[k];
    }
  }
  return o;
}

function wireDns(d: DNS | undefined): JsonObject {
  const o: JsonObject = {};
  if (!d) return o;
  if (d.nameservers?.length) o.nameservers = [...d.nameservers];
  if (d.domain) o.domain = d.domain;
  if (d.search?.length) o.search = [...d.search];
  if (d.options?.length) o.options = [...d.options];
  return o;
}

/** 0.2.0 keeps the first IPv4 and the first IPv6 address only; routes go under their family. */
function to02(result: Result, version: string): JsonObject {
  const out: JsonObject = { cniVersion: version };
  let ip4: JsonObject | undefined;
  let ip6: JsonObject | undefined;
  for (const ip of result.ips ?? []) {
    const c: JsonObject = { ip: ip.address };
    if (ip.gateway) c.gateway = ip.gateway;
    if (inV4Family(ip.address)) ip4 ??= c;
    else ip6 ??= c;
    if (ip4 && ip6) break;
  }
  for (const r of result.routes ?? []) {
    const target = inV4Family(r.dst) ? ip4 : ip6;
    if (!target) continue;
    const route: JsonObject = { dst: r.dst };
    if (r.gw) route.gw = r.gw;
    ((target.routes ??= []) as JsonObject[]).push(route);
  }
  if (ip4) out.ip4 = ip4;
  if (ip6) out.ip6 = ip6;
  out.dns = wireDns(result.dns);
  return out;
}

/** Convert a wire result of one version to another (parse into the model, print). */
export function convertResult(json: unknown, from: string, to: string): JsonObject {
  return toWire(parseResult(json, from), to);
}
