// What a plugin implements. The dispatcher (skel.ts) validates the environment and the network
// configuration, negotiates the version, and converts results; a plugin sees only typed input.
import type { JsonObject } from "./json";
import type { Result } from "./result/types";

export type Command = "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" | "VERSION";

/** One attachment as the spec names it (CNI_CONTAINERID, CNI_IFNAME); GC's list is made of these. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** An attachment of one network: the key every per-attachment name of ours is derived from. */
export interface AttachmentKey extends Attachment {
  network: string;
}

/** The fields every network configuration shares (spec section "Network configuration"). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** The whole decoded stdin object, for plugin-specific keys (read with core/json.ts helpers). */
  raw: JsonObject;
  /** `ipam` object as given, if any; its `type` names the IPAM plugin. */
  ipam?: JsonObject & { type?: string };
  /** `prevResult` converted to the current result model, when present. */
  prevResult?: Result;
  /** `runtimeConfig` (capability arguments); empty object when absent. */
  runtimeConfig: JsonObject;
  /** `args.cni` (conventions: ips, mac, …); empty object when absent. */
  argsCni: JsonObject;
}

export interface CmdArgs {
  command: Exclude<Command, "VERSION">;
  containerID: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS parsed as K=V pairs, in order; IgnoreUnknown already removed. */
  args: [string, string][];
  ignoreUnknown: boolean;
  path: string[];
  stdin: Buffer;
  conf: NetConf;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * GC's input: the runtime's list of attachments to keep, always present and well formed (the
 * dispatcher refuses a GC without it with code 7: config.ts parseValidAttachments). GC never
 * removes state of an attachment in it.
 */
export interface GcArgs extends CmdArgs {
  command: "GC";
  validAttachments: readonly Attachment[];
}

export interface Plugin {
  /** The name it is installed and called by: "bridge", "host-local", "ebpf-bandwidth", "loopback". */
  name: string;
  /** Spec versions accepted in config; VERSION reports them. */
  supportedVersions: readonly string[];
  add(args: CmdArgs): Promise<Result>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  gc(args: GcArgs): Promise<void>;
  status(args: CmdArgs): Promise<void>;
}
