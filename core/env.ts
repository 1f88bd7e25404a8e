// The CNI environment, read from a table: which variable each command needs and how each is
// validated (containernetworking/cni pkg/skel semantics, messages kept close to libcni's).
import type { Command } from "./plugin";
import { CniError, Code, envError } from "./errors";

export const COMMANDS: readonly Command[] = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"];

interface EnvVar {
  name: string;
  requiredFor: readonly Command[];
  validate?: (value: string) => void;
}

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(Code.UnknownContainer, "missing containerID");
  if (!CONTAINER_ID_RE.test(id)) throw envError("invalid characters in containerID", id);
}

/** Linux IFNAMSIZ is 16 including the NUL, so at most 15 bytes; the kernel also refuses these. */
export function validateIfName(name: string): void {
  if (name === "") throw envError("interface name is empty");
  if (Buffer.byteLength(name) > 15) throw envError("interface name is too long", `interface name should be less than 16 characters, got "${name}" (${Buffer.byteLength(name)} bytes)`);
  if (name === "." || name === "..") throw envError("interface name is . or ..");
  if (/[\/:\s]/.test(name)) throw envError("interface name contains / or : or whitespace characters", name);
}

export const ENV_TABLE: readonly EnvVar[] = [
  { name: "CNI_COMMAND", requiredFor: COMMANDS },
  { name: "CNI_CONTAINERID", requiredFor: ["ADD", "DEL", "CHECK"], validate: validateContainerID },
  { name: "CNI_NETNS", requiredFor: ["ADD", "CHECK"] },
  { name: "CNI_IFNAME", requiredFor: ["ADD", "DEL", "CHECK"], validate: validateIfName },
  { name: "CNI_ARGS", requiredFor: [] },
  { name: "CNI_PATH", requiredFor: ["ADD", "DEL", "CHECK", "GC", "STATUS"] },
];

export interface CniEnv {
  command: Command;
  containerID: string;
  netns: string;
  ifname: string;
  args: string;
  path: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

export function readCommand(env: Env): Command {
  const cmd = env.CNI_COMMAND ?? "";
  if (cmd === "") throw envError("required env variables [CNI_COMMAND] missing");
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw envError(`unknown CNI_COMMAND: ${cmd}`, `expected one of ${COMMANDS.join(", ")}`);
  return cmd as Command;
}

/** Check every variable the command needs, then validate the ones that are set and needed. */
export function readEnv(env: Env): CniEnv {
  const command = readCommand(env);
  const missing = ENV_TABLE.filter((v) => v.requiredFor.includes(command) && !env[v.name]).map((v) => v.name);
  if (missing.length > 0) throw envError(`required env variables [${missing.join(",")}] missing`);
  for (const v of ENV_TABLE) {
    const value = env[v.name];
    if (v.validate && v.requiredFor.includes(command) && value !== undefined) v.validate(value);
  }
  return {
    command,
    containerID: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args: env.CNI_ARGS ?? "",
    path: (env.CNI_PATH ?? "").split(":").filter((p) => p !== ""),
  };
}
