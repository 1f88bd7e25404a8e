// The bridge network configuration, validated into a typed object before anything is touched.
// Keys and defaults follow the Go reference (plugins/main/bridge); keys fold case like Go's
// encoding/json. Every refusal is a code-7 error naming the offending field.
import { pickArgs } from "../../core/args";
import { configError } from "../../core/errors";
import { isObject, optArray, optBool, optInt, optObject, optString, type JsonObject } from "../../core/json";
import type { CmdArgs, NetConf } from "../../core/plugin";
import type { DNS } from "../../core/result/types";

export type MasqBackend = "iptables" | "nftables";

export interface BridgeConfig {
  cniVersion: string;
  name: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  /** Undefined: chosen at run time as the reference does (iptables unless only nft exists). */
  ipMasqBackend?: MasqBackend;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  /** 0 = no access VLAN. */
  vlan: number;
  /** Sorted, de-duplicated trunk VLAN ids (empty = none). */
  vlanTrunk: number[];
  preserveDefaultVlan: boolean;
  macspoofchk: boolean;
  enabledad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** Requested container MAC (runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC), lower case. */
  mac?: string;
  /** IPAM plugin type; undefined = L2 only. */
  ipamType?: string;
  /** `dns` from the config, used instead of the IPAM's when any field is set. */
  dns?: DNS;
}

const IFNAMSIZ = 16;

/** The kernel's dev_valid_name(): 1–15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function checkLinkName(name: string, fieldName: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw configError(`invalid "${fieldName}"`, "must not be empty");
  if (bytes >= IFNAMSIZ) throw configError(`invalid "${fieldName}"`, `"${name}" is ${bytes} bytes, the kernel allows at most ${IFNAMSIZ - 1}`);
  if (name === "." || name === ".." || /[\/:\s]/.test(name)) {
    throw configError(`invalid "${fieldName}"`, `"${name}" is not a valid interface name (no "/", ":", whitespace, "." or "..")`);
  }
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A unicast Ethernet MAC, as net.ParseMAC accepts it for 6 bytes (":" or "-" separators). */
export function normalizeMac(mac: string, fieldName: string): string {
  const m = mac.toLowerCase().replace(/-/g, ":");
  if (!MAC_RE.test(m)) throw configError(`invalid "${fieldName}"`, `"${mac}" is not a 6-byte MAC address`);
  if (parseInt(m.slice(0, 2), 16) & 1) throw configError(`invalid "${fieldName}"`, `"${mac}" is a multicast address; an interface needs a unicast one`);
  return m;
}

/** vlanTrunk entries: {id} or {minID, maxID} (both), each 1..4094, as the reference's collectVlanTrunk. */
export function parseVlanTrunk(list: unknown[] | undefined): number[] {
  if (!list) return [];
  const ids = new Set<number>();
  list.forEach((item, i) => {
    const path = `vlanTrunk[${i}]`;
    if (!isObject(item)) throw configError(`invalid "${path}"`, "must be an object");
    const minID = optInt(item, "minID", `${path}.minID`, 1, 4094);
    const maxID = optInt(item, "maxID", `${path}.maxID`, 1, 4094);
    const id = optInt(item, "id", `${path}.id`, 1, 4094);
    if ((minID === undefined) !== (maxID === undefined)) {
      throw configError(`invalid "${path}"`, `minID and maxID must be set together (${minID === undefined ? "minID" : "maxID"} is missing)`);
    }
    if (minID !== undefined && maxID !== undefined) {
      if (maxID < minID) throw configError(`invalid "${path}"`, `minID ${minID} is greater than maxID ${maxID}`);
      for (let v = minID; v <= maxID; v++) ids.add(v);
    }
    if (id !== undefined) ids.add(id);
  });
  return [...ids].sort((a, b) => a - b);
}

function parseDns(raw: JsonObject): DNS | undefined {
  const d = optObject(raw, "dns");
  if (!d) return undefined;
  const list = (k: string) => {
    const a = optArray(d, k, `dns.${k}`);
    return a?.map((v, i) => {
      if (typeof v !== "string") throw configError(`invalid "dns.${k}[${i}]"`, "must be a string");
      return v;
    });
  };
  const dns: DNS = {};
  const ns = list("nameservers");
  const search = list("search");
  const options = list("options");
  const domain = optString(d, "domain", "dns.domain");
  if (ns?.length) dns.nameservers = ns;
  if (domain) dns.domain = domain;
  if (search?.length) dns.search = search;
  if (options?.length) dns.options = options;
  // The reference uses the config's dns only when some field is set (dnsConfSet).
  return Object.keys(dns).length ? dns : undefined;
}

function pickMac(conf: NetConf, cniArgs: Map<string, string>): string | undefined {
  const rc = optString(conf.runtimeConfig, "mac", "runtimeConfig.mac");
  if (rc) return normalizeMac(rc, "runtimeConfig.mac");
  const ac = optString(conf.argsCni, "mac", "args.cni.mac");
  if (ac) return normalizeMac(ac, "args.cni.mac");
  const env = cniArgs.get("MAC");
  if (env) return normalizeMac(env, "CNI_ARGS MAC");
  return undefined;
}

const flag = (raw: JsonObject, key: string, dflt = false) => optBool(raw, key) ?? dflt;

/** Validate the whole configuration; `args` supplies CNI_ARGS for the MAC. Pure: no kernel access. */
export function parseBridgeConfig(conf: NetConf, args: Pick<CmdArgs, "args" | "ignoreUnknown">): BridgeConfig {
  const raw = conf.raw;
  const bridge = optString(raw, "bridge") || "cni0";
  checkLinkName(bridge, "bridge");

  const backend = optString(raw, "ipMasqBackend");
  if (backend !== undefined && backend !== "iptables" && backend !== "nftables") {
    throw configError(`invalid "ipMasqBackend"`, `"${backend}" is not one of "iptables", "nftables"`);
  }
  const mtuRaw = optInt(raw, "mtu", "mtu", 0, 65535);
  // 0 means "unset" in Go; anything else below the Ethernet minimum the kernel would refuse late.
  if (mtuRaw !== undefined && mtuRaw !== 0 && mtuRaw < 68) throw configError(`invalid "mtu"`, `${mtuRaw} is below the minimum of 68`);
  const vlan = optInt(raw, "vlan", "vlan", 0, 4094) ?? 0;
  const vlanTrunk = parseVlanTrunk(optArray(raw, "vlanTrunk"));

  const isDefaultGateway = flag(raw, "isDefaultGateway");
  const cfg: BridgeConfig = {
    cniVersion: conf.cniVersion,
    name: conf.name,
    bridge,
    isDefaultGateway,
    // isDefaultGateway implies isGateway, as in the reference.
    isGateway: flag(raw, "isGateway") || isDefaultGateway,
    forceAddress: flag(raw, "forceAddress"),
    ipMasq: flag(raw, "ipMasq"),
    hairpinMode: flag(raw, "hairpinMode"),
    promiscMode: flag(raw, "promiscMode"),
    vlan,
    vlanTrunk,
    // The reference README says false, but its code defaults to true "to maintain existing behavior".
    preserveDefaultVlan: flag(raw, "preserveDefaultVlan", true),
    macspoofchk: flag(raw, "macspoofchk"),
    enabledad: flag(raw, "enabledad"),
    disableContainerInterface: flag(raw, "disableContainerInterface"),
    portIsolation: flag(raw, "portIsolation"),
  };
  if (backend) cfg.ipMasqBackend = backend;
  if (mtuRaw) cfg.mtu = mtuRaw;
  const ipamType = conf.ipam?.type;
  if (ipamType) cfg.ipamType = ipamType;
  const dns = parseDns(raw);
  if (dns) cfg.dns = dns;

  if (cfg.hairpinMode && cfg.promiscMode) {
    throw configError(`invalid "hairpinMode"`, `cannot set "hairpinMode" and "promiscMode" at the same time`);
  }
  if (cfg.ipamType && cfg.disableContainerInterface) {
    throw configError(`invalid "disableContainerInterface"`, "cannot use IPAM when disableContainerInterface is set");
  }
  // The gateway veth for a VLAN is named "<bridge>.<vlan>" (reference ensureVlanInterface).
  if (cfg.isGateway && cfg.vlan && Buffer.byteLength(`${bridge}.${vlan}`) >= IFNAMSIZ) {
    throw configError(`invalid "bridge"`, `with isGateway and vlan ${vlan} the gateway interface "${bridge}.${vlan}" would exceed ${IFNAMSIZ - 1} bytes`);
  }
  const cniArgs = pickArgs({ pairs: args.args, ignoreUnknown: args.ignoreUnknown }, ["MAC"]);
  const mac = pickMac(conf, cniArgs);
  if (mac) cfg.mac = mac;
  return cfg;
}
