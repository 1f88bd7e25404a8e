// host-local's configuration: decoded with Go's case-insensitive keys, validated, and turned into
// a typed object. Every error is code 7 and names the offending field by its path.
import { pickArgs } from "../../core/args";
import { configError } from "../../core/errors";
import { field, isObject, optArray, optInt, optString, typeName, type JsonObject } from "../../core/json";
import type { CmdArgs, NetConf } from "../../core/plugin";
import type { Route } from "../../core/result/types";
import { atLeast } from "../../core/version";
import { formatIP, parseIP, parseIPNet, parseIPOrCIDR, type IP } from "../../core/ip";
import { isExcluded, parseRange } from "./range";
import { rangeFor, rangeSetString, setsOverlap, validateRangeSet, type RangeSet } from "./range-set";
import { checkNetworkName } from "./side-files";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";

export interface HostLocalConfig {
  network: string;
  cniVersion: string;
  dataDir: string;
  /** In the reference's order: runtimeConfig.ipRanges, the legacy top-level range, ipam.ranges. */
  rangeSets: RangeSet[];
  /** Requested address per range set (same index), if any. */
  requested: (IP | undefined)[];
  routes: Route[];
  resolvConf?: string;
}

function ipamOf(conf: NetConf): JsonObject {
  if (!conf.ipam) throw configError(`missing "ipam"`, "IPAM config missing 'ipam' key");
  return conf.ipam;
}

/** The store location only: all DEL needs, so DEL works even when the ranges no longer parse. */
export function parseDataDir(conf: NetConf): string {
  const dir = optString(ipamOf(conf), "dataDir", "ipam.dataDir") || DEFAULT_DATA_DIR;
  if (dir.includes("\0")) throw configError(`invalid "ipam.dataDir"`, "contains a NUL byte");
  return dir;
}

export function parseConfig(args: CmdArgs, withRequests = true): HostLocalConfig {
  const conf = args.conf;
  const ipam = ipamOf(conf);
  checkNetworkName(conf.name);
  const rangeSets: RangeSet[] = [];
  const paths: string[] = [];
  const addSets = (list: unknown[], path: string) => {
    list.forEach((set, i) => {
      const p = `${path}[${i}]`;
      if (!Array.isArray(set)) throw configError(`invalid "${p}"`, `must be an array of ranges (a range set), got ${typeName(set)}`);
      const parsed = set.map((r, j) => {
        if (!isObject(r)) throw configError(`invalid "${p}[${j}]"`, `must be an object, got ${typeName(r)}`);
        return parseRange(r, `${p}[${j}]`);
      });
      validateRangeSet(parsed, p);
      rangeSets.push(parsed);
      paths.push(p);
    });
  };
  addSets(optArray(conf.runtimeConfig, "ipRanges", "runtimeConfig.ipRanges") ?? [], "runtimeConfig.ipRanges");
  if (field(ipam, "subnet") !== undefined) {
    const legacy = parseRange(ipam, "ipam");
    rangeSets.push([legacy]);
    paths.push("ipam");
  }
  addSets(optArray(ipam, "ranges", "ipam.ranges") ?? [], "ipam.ranges");
  if (rangeSets.length === 0) throw configError(`missing "ipam.ranges"`, "no IP ranges specified");

  for (let i = 0; i < rangeSets.length; i++) {
    for (let j = i + 1; j < rangeSets.length; j++) {
      if (setsOverlap(rangeSets[i]!, rangeSets[j]!)) {
        throw configError(`invalid "${paths[j]}"`, `range set ${rangeSetString(rangeSets[j]!)} overlaps ${paths[i]} (${rangeSetString(rangeSets[i]!)})`);
      }
    }
  }
  // Results before 0.3.0 carry at most one address per family.
  const v4 = rangeSets.filter((s) => s[0]!.family === 4).length;
  if ((v4 > 1 || rangeSets.length - v4 > 1) && !atLeast(conf.cniVersion, "0.3.0")) {
    throw configError(`invalid "ipam.ranges"`, `CNI version ${conf.cniVersion} does not support more than 1 address per family`);
  }

  const resolvConf = optString(ipam, "resolvConf", "ipam.resolvConf") || undefined;
  return {
    network: conf.name,
    cniVersion: conf.cniVersion,
    dataDir: parseDataDir(conf),
    rangeSets,
    requested: withRequests ? parseRequests(args, rangeSets) : rangeSets.map(() => undefined),
    routes: parseRoutes(ipam),
    ...(resolvConf ? { resolvConf } : {}),
  };
}

/**
 * Requested addresses (CNI_ARGS `IP=`, `args.cni.ips`, `runtimeConfig.ips`), deduplicated, each
 * assigned to the range set containing it. The reference reports leftovers only after allocating;
 * we refuse them up front, as config errors naming the field.
 */
function parseRequests(args: CmdArgs, sets: RangeSet[]): (IP | undefined)[] {
  const sources: [string, string][] = [];
  const ipArg = pickArgs({ pairs: args.args, ignoreUnknown: args.ignoreUnknown }, ["IP"]).get("IP");
  if (ipArg !== undefined && ipArg !== "") sources.push([ipArg, "CNI_ARGS IP"]);
  const list = (obj: JsonObject, path: string) =>
    (optArray(obj, "ips", path) ?? []).forEach((v, i) => {
      if (typeof v !== "string") throw configError(`invalid "${path}[${i}]"`, `must be a string, got ${typeName(v)}`);
      sources.push([v, `${path}[${i}]`]);
    });
  list(args.conf.argsCni, "args.cni.ips");
  list(args.conf.runtimeConfig, "runtimeConfig.ips");

  const out: (IP | undefined)[] = sets.map(() => undefined);
  const from: string[] = [];
  for (const [text, path] of sources) {
    const ip = parseIPOrCIDR(text);
    if (!ip) throw configError(`invalid "${path}"`, `"${text}" is not an IP address`);
    const idx = sets.findIndex((s) => rangeFor(s, ip));
    if (idx < 0) throw configError(`invalid "${path}"`, `requested address ${formatIP(ip)} is not in any configured range (${sets.map(rangeSetString).join("; ")})`);
    const r = rangeFor(sets[idx]!, ip)!;
    if (ip.value === r.gateway) throw configError(`invalid "${path}"`, `requested address ${formatIP(ip)} is the subnet's gateway`);
    if (isExcluded(r, ip.value)) throw configError(`invalid "${path}"`, `requested address ${formatIP(ip)} is the network or broadcast address`);
    const prev = out[idx];
    if (prev && prev.value === ip.value) continue; // the same address requested twice
    if (prev) throw configError(`invalid "${path}"`, `requested address ${formatIP(ip)} and ${from[idx]} (${formatIP(prev)}) fall in the same range set; one address per set`);
    out[idx] = ip;
    from[idx] = path;
  }
  return out;
}

function parseRoutes(ipam: JsonObject): Route[] {
  return (optArray(ipam, "routes", "ipam.routes") ?? []).map((r, i) => {
    const p = `ipam.routes[${i}]`;
    if (!isObject(r)) throw configError(`invalid "${p}"`, `must be an object, got ${typeName(r)}`);
    const dstText = optString(r, "dst", `${p}.dst`);
    if (!dstText) throw configError(`missing "${p}.dst"`, "a route needs a destination");
    const dst = parseIPNet(dstText);
    if (!dst) throw configError(`invalid "${p}.dst"`, `"${dstText}" is not a CIDR`);
    // Go prints the route as parsed: the address as written (host bits kept), canonical form.
    const route: Route = { dst: `${formatIP(dst.ip)}/${dst.prefix}` };
    const gwText = optString(r, "gw", `${p}.gw`);
    if (gwText) {
      const gw = parseIP(gwText);
      if (!gw) throw configError(`invalid "${p}.gw"`, `"${gwText}" is not an IP address`);
      route.gw = formatIP(gw);
    }
    for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      const n = optInt(r, k, `${p}.${k}`, 0, 2 ** 32 - 1);
      if (n !== undefined) route[k] = n;
    }
    return route;
  });
}
