// The network configuration on stdin: decoded, validated and turned into the typed NetConf every
// plugin receives. Keys match case-insensitively (Go semantics, see json.ts).
import { CniError, Code, configError } from "./errors";
import { field, isObject, optObject, optString, type JsonObject } from "./json";
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
  if (command === "GC") conf.validAttachments = parseAttachments(raw);
  return conf;
}

/** GC's list of attachments to keep: `cni.dev/valid-attachments`, or older libcni's `cni.dev/attachments`. */
function parseAttachments(raw: JsonObject): Attachment[] {
  const list = field(raw, "cni.dev/valid-attachments") ?? field(raw, "cni.dev/attachments") ?? [];
  if (!Array.isArray(list)) throw configError(`invalid "cni.dev/valid-attachments"`, "must be an array");
  return list.map((a, i) => {
    if (!isObject(a)) throw configError(`invalid "cni.dev/valid-attachments[${i}]"`, "must be an object");
    const containerID = optString(a, "containerID", `cni.dev/valid-attachments[${i}].containerID`) ?? "";
    const ifname = optString(a, "ifname", `cni.dev/valid-attachments[${i}].ifname`) ?? "";
    return { containerID, ifname };
  });
}
