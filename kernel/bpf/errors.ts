// A bpf() failure with a stable machine-readable code, the errno, the command and, for PROG_LOAD,
// the verifier log. Callers branch on `errno`/`code` (ENOENT, EEXIST, EPERM...), humans read `log`.
import { CniError, Code } from "../../core/errors";
import { isSysError } from "../native";

export class BpfError extends Error {
  override readonly name = "BpfError";
  constructor(
    /** errno name, e.g. "EINVAL"; "ELOADER" for our own validation failures. */
    readonly code: string,
    readonly errno: number,
    readonly cmd: string,
    message: string,
    /** The verifier log (PROG_LOAD) or other kernel text, if any. */
    readonly log = "",
  ) {
    super(message);
  }

  /** CNI form: code 100 (kernel refused) with the errno and the tail of the verifier log. */
  toCniError(context: string): CniError {
    const tail = this.log ? `\n${lastLines(this.log, 20)}` : "";
    return new CniError(Code.Kernel, `${context}: ${this.message}`, `${this.code}${tail}`);
  }
}

/** Wrap an addon error from bpf() into a BpfError naming the command. */
export function wrapSysError(e: unknown, cmd: string, what: string, log = ""): BpfError {
  if (isSysError(e)) {
    return new BpfError(e.code, e.errno, cmd, `${what}: ${cmd}: ${e.code} (${e.message.replace(/^bpf: /, "")})`, log);
  }
  if (e instanceof BpfError) return e;
  return new BpfError("EUNKNOWN", 0, cmd, `${what}: ${(e as Error)?.message ?? String(e)}`, log);
}

export const loaderError = (message: string) => new BpfError("ELOADER", 0, "", message);

export function isBpfError(e: unknown, code?: string): e is BpfError {
  return e instanceof BpfError && (code === undefined || e.code === code);
}

function lastLines(s: string, n: number): string {
  return s.trimEnd().split("\n").slice(-n).join("\n");
}
