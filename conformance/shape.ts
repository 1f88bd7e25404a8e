// Result and error JSON shapes per spec version (SPEC-v0.3.1/0.4.0/1.0.0/1.1.0 §5, 0.2.0 in
// SPEC-v0.3.1's predecessors as encoded by libcni's types/020). Each validator returns a list of
// problems, empty when the document conforms; checks print them verbatim.
import { atLeast } from "./harness";

const isObj = (x: unknown): x is Record<string, any> => typeof x === "object" && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === "string";
const isUint = (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 0;

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const isIP = (s: string) => IPV4.test(s) || (s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s));
export const isCIDR = (s: unknown): boolean => {
  if (!isStr(s)) return false;
  const [ip, len, ...rest] = s.split("/");
  if (rest.length || ip === undefined || len === undefined || !/^\d+$/.test(len)) return false;
  return isIP(ip) && Number(len) <= (ip.includes(":") ? 128 : 32);
};
const isMAC = (s: unknown) => isStr(s) && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s);

function dnsProblems(dns: unknown, where: string): string[] {
  if (dns === undefined) return [];
  if (!isObj(dns)) return [`${where}: dns must be an object`];
  const p: string[] = [];
  for (const k of ["nameservers", "search", "options"]) {
    if (dns[k] !== undefined && !(Array.isArray(dns[k]) && dns[k].every(isStr))) p.push(`${where}: dns.${k} must be a list of strings`);
  }
  if (dns.domain !== undefined && !isStr(dns.domain)) p.push(`${where}: dns.domain must be a string`);
  return p;
}

function routeProblems(routes: unknown, where: string, version: string): string[] {
  if (routes === undefined || routes === null) return [];
  if (!Array.isArray(routes)) return [`${where}: routes must be a list`];
  const p: string[] = [];
  routes.forEach((r, i) => {
    if (!isObj(r)) return void p.push(`${where}: routes[${i}] must be an object`);
    if (!isCIDR(r.dst)) p.push(`${where}: routes[${i}].dst ${JSON.stringify(r.dst)} is not CIDR`);
    if (r.gw !== undefined && !(isStr(r.gw) && isIP(r.gw))) p.push(`${where}: routes[${i}].gw ${JSON.stringify(r.gw)} is not an IP`);
    const extra = ["mtu", "advmss", "priority", "table", "scope"];
    for (const k of extra) {
      if (r[k] === undefined) continue;
      if (!atLeast(version, "1.1.0")) p.push(`${where}: routes[${i}].${k} is a 1.1.0 field, not valid in ${version}`);
      else if (!isUint(r[k])) p.push(`${where}: routes[${i}].${k} must be an unsigned integer`);
    }
  });
  return p;
}

/** ADD success result (spec §5 "ADD Success") for the given request version. */
export function resultProblems(res: unknown, version: string, opts: { ipam?: boolean } = {}): string[] {
  if (!isObj(res)) return ["result is not a JSON object"];
  const p: string[] = [];
  if (res.cniVersion !== version) p.push(`cniVersion ${JSON.stringify(res.cniVersion)} differs from the requested ${version}`);

  if (!atLeast(version, "0.3.0")) {
    // 0.1.0 / 0.2.0: ip4 / ip6 objects.
    for (const fam of ["ip4", "ip6"]) {
      const ipc = res[fam];
      if (ipc === undefined) continue;
      if (!isObj(ipc)) p.push(`${fam} must be an object`);
      else {
        if (!isCIDR(ipc.ip)) p.push(`${fam}.ip ${JSON.stringify(ipc.ip)} is not CIDR`);
        if (ipc.gateway !== undefined && !(isStr(ipc.gateway) && isIP(ipc.gateway))) p.push(`${fam}.gateway is not an IP`);
        p.push(...routeProblems(ipc.routes, fam, version));
      }
    }
    if (res.ip4 === undefined && res.ip6 === undefined) p.push("neither ip4 nor ip6 present");
    for (const k of ["interfaces", "ips"]) if (k in res) p.push(`${k} is not part of the ${version} result`);
    p.push(...dnsProblems(res.dns, "result"));
    return p;
  }

  const ifaces = res.interfaces;
  if (ifaces !== undefined) {
    if (!Array.isArray(ifaces)) p.push("interfaces must be a list");
    else
      ifaces.forEach((f, i) => {
        if (!isObj(f)) return void p.push(`interfaces[${i}] must be an object`);
        if (!isStr(f.name) || f.name === "") p.push(`interfaces[${i}].name missing`);
        if (f.mac !== undefined && f.mac !== "" && !isMAC(f.mac)) p.push(`interfaces[${i}].mac ${JSON.stringify(f.mac)} is not a MAC`);
        if (f.sandbox !== undefined && !isStr(f.sandbox)) p.push(`interfaces[${i}].sandbox must be a string`);
        if (f.mtu !== undefined && !(atLeast(version, "1.0.0") && isUint(f.mtu))) p.push(`interfaces[${i}].mtu not valid in ${version}`);
        for (const k of ["socketPath", "pciID"]) if (f[k] !== undefined && (!atLeast(version, "1.0.0") || !isStr(f[k]))) p.push(`interfaces[${i}].${k} not valid in ${version}`);
      });
  } else if (!opts.ipam) p.push("interfaces missing");

  if (!Array.isArray(res.ips)) p.push("ips must be a list");
  else
    res.ips.forEach((ip: unknown, i: number) => {
      if (!isObj(ip)) return void p.push(`ips[${i}] must be an object`);
      if (!isCIDR(ip.address)) p.push(`ips[${i}].address ${JSON.stringify(ip.address)} is not CIDR`);
      if (ip.gateway !== undefined && !(isStr(ip.gateway) && isIP(ip.gateway))) p.push(`ips[${i}].gateway is not an IP`);
      if (atLeast(version, "1.0.0")) {
        if ("version" in ip) p.push(`ips[${i}].version was removed in 1.0.0`);
      } else {
        const fam = isStr(ip.address) && ip.address.includes(":") ? "6" : "4";
        if (ip.version !== fam) p.push(`ips[${i}].version must be "${fam}" in ${version}`);
      }
      if (ip.interface !== undefined) {
        if (!isUint(ip.interface)) p.push(`ips[${i}].interface must be an index`);
        else if (!Array.isArray(ifaces) || ip.interface >= ifaces.length) p.push(`ips[${i}].interface ${ip.interface} points past interfaces`);
      }
    });
  p.push(...routeProblems(res.routes, "result", version));
  p.push(...dnsProblems(res.dns, "result"));
  return p;
}

/** Error result (spec §5 "Error"); cniVersion is listed there from 1.0.0 on. */
export function errorProblems(out: unknown): string[] {
  if (!isObj(out)) return ["stdout is not a JSON error object"];
  const p: string[] = [];
  if (!isUint(out.code)) p.push(`code ${JSON.stringify(out.code)} is not an unsigned integer`);
  if (!isStr(out.msg)) p.push("msg missing or not a string");
  if (out.details !== undefined && !isStr(out.details)) p.push("details is not a string");
  return p;
}

/** The IP addresses (CIDR) a result assigns to a named interface (or all, for old versions). */
export function resultAddresses(res: any, ifname: string, sandbox: string): string[] {
  if (!isObj(res)) return [];
  if (res.ip4 || res.ip6) return [res.ip4?.ip, res.ip6?.ip].filter(isStr);
  const ifaces: any[] = Array.isArray(res.interfaces) ? res.interfaces : [];
  return (Array.isArray(res.ips) ? res.ips : [])
    .filter((ip: any) => ip.interface === undefined || (ifaces[ip.interface]?.name === ifname && (ifaces[ip.interface]?.sandbox ?? "") === sandbox))
    .map((ip: any) => ip.address)
    .filter(isStr);
}
