// The network configuration on stdin: decoded, validated and turned into the typed NetConf every
// plugin receives. Keys match case-insensitively (Go semantics, see json.ts).
import { CniError, Code, configError } from "./errors";
import { field, isObject, optObject, optString, type JsonObject, typeName } from "./json";
import type { Attachment, Command, NetConf } from "./plugin";
import { parseResult } from "./result/convert";
import { atLeast, isSupported, parseVersion, SUPPORTED_VERSIONS } from "./version";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function validateNetworkName(name: string): void {
  if (name === "") throw configError("missing network name");
  if (!NAME_RE.test(name)) throw configError("invalid characters found in network name", name);
}

export function decodeJson(stdin: Buffer): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin.toString("utf8"));
  } catch (e) {
    throw new CniError(Code.DecodingFailure, "error unmarshalling network config", (e as Error).message);
  }
  if (!isObject(parsed)) throw new CniError(Code.DecodingFailure, "error unmarshalling network config", "expected a JSON object");
  return parsed;
}

/** The config's version; absent means 0.1.0, as libcni decides. */
export function configVersion(raw: JsonObject): string {
  return optString(raw, "cniVersion") || "0.1.0";
}

export function parseNetConf(stdin: Buffer, command: Exclude<Command, "VERSION">, supported: readonly string[] = SUPPORTED_VERSIONS): NetConf {
  const raw = decodeJson(stdin);
  const cniVersion = configVersion(raw);
  if (!parseVersion(cniVersion) || !isSupported(cniVersion) || !supported.includes(cniVersion)) {
    throw new CniError(Code.IncompatibleCNIVersion, "incompatible CNI versions", `config is "${cniVersion}", plugin supports [${supported.join(" ")}]`);
  }
  const name = optString(raw, "name") ?? "";
  validateNetworkName(name);
  const type = optString(raw, "type") ?? "";
  if (type === "") throw configError("missing plugin type", `field "type" is required`);

  if (command === "CHECK" && !atLeast(cniVersion, "0.4.0")) {
    throw new CniError(Code.IncompatibleCNIVersion, "config version does not allow CHECK", `CHECK needs cniVersion 0.4.0 or later, config is "${cniVersion}"`);
  }
  if ((command === "GC" || command === "STATUS") && !atLeast(cniVersion, "1.1.0")) {
    throw new CniError(Code.IncompatibleCNIVersion, `config version does not allow ${command}`, `${command} needs cniVersion 1.1.0 or later, config is "${cniVersion}"`);
  }

  const conf: NetConf = {
    cniVersion,
    name,
    type,
    raw,
    runtimeConfig: optObject(raw, "runtimeConfig") ?? {},
    argsCni: optObject(optObject(raw, "args") ?? {}, "cni", "args.cni") ?? {},
  };
  const ipam = optObject(raw, "ipam");
  if (ipam) {
    const ipamType = optString(ipam, "type", "ipam.type");
    conf.ipam = { ...ipam, ...(ipamType !== undefined ? { type: ipamType } : {}) };
  }
  const prev = field(raw, "prevResult");
  if (prev !== undefined) {
    try {
      // The spec says prevResult is in the config's version (the runtime converts it).
      conf.prevResult = parseResult(prev, cniVersion);
    } catch (e) {
      throw new CniError(Code.DecodingFailure, "failed to parse prevResult", e instanceof CniError ? e.details : String(e));
    }
  }
  return conf;
}

/** The keys GC's list may come under: the spec's current name first, then the 1.1.0 text's (older libcni). */
export const GC_LIST_KEYS = ["cni.dev/valid-attachments", "cni.dev/attachments"] as const;

/**
 * The one GC policy (every plugin, through the dispatcher): the attachments a GC must keep, from
 * `cni.dev/valid-attachments` or else `cni.dev/attachments`. A GC without the list, or with a
 * malformed one (not an array; an entry that is not an object with non-empty string `containerID`
 * and `ifname`), is refused with code 7 before any plugin code runs: read as "nothing is valid",
 * it would strip every live attachment on the node of its state.
 */
export function parseValidAttachments(raw: JsonObject): Attachment[] {
  const key = GC_LIST_KEYS.find((k) => field(raw, k) !== undefined);
  if (!key) throw configError(`missing "${GC_LIST_KEYS[0]}"`, `GC needs the list of attachments to keep (or "${GC_LIST_KEYS[1]}"); without it nothing is removed`);
  const list = field(raw, key);
  if (!Array.isArray(list)) throw configError(`invalid "${key}"`, `must be an array, got ${typeName(list)}`);
  return list.map((a, i) => {
    if (!isObject(a)) throw configError(`invalid "${key}[${i}]"`, `must be an object, got ${typeName(a)}`);
    const str = (name: string) => {
      const v = optString(a, name, `${key}[${i}].${name}`);
      if (!v) throw configError(`invalid "${key}[${i}].${name}"`, v === undefined ? "missing" : "must not be empty");
      return v;
    };
    return { containerID: str("containerID"), ifname: str("ifname") };
  });
}
