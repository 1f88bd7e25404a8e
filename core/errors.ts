// One error type for the whole suite. Codes 1–11 and 50/51 come from the CNI spec, 8 and 999 from
// libcni; 100+ are ours. Codes are part of the public interface: never renumber.
export const Code = {
  IncompatibleCNIVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
  /** A kernel call (netlink, bpf, sysctl, mount) was refused; details carry the errno. */
  Kernel: 100,
  /** A delegated plugin (IPAM) failed; msg is its message. */
  DelegateFailed: 101,
  /** No free address left in a range set. */
  AddressesExhausted: 102,
  /** A requested address is already reserved by another attachment. */
  AddressInUse: 103,
  /** Running state (link, address, program) does not match what CHECK expects. */
  CheckFailed: 104,
  /** Another tool's state is in the way (a root qdisc, a device); nothing was changed. */
  ForeignState: 105,
} as const;

export type CodeName = keyof typeof Code;

export class CniError extends Error {
  readonly code: number;
  readonly msg: string;
  readonly details: string;

  constructor(code: number, msg: string, details = "") {
    super(details ? `${msg}: ${details}` : msg);
    this.name = "CniError";
    this.code = code;
    this.msg = msg;
    this.details = details;
  }

  /** The wire form defined by the spec; `details` is omitted when empty, as libcni does. */
  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.msg };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Shorthands for the codes used most; keep call sites readable. */
export const configError = (msg: string, details = "") => new CniError(Code.InvalidNetworkConfig, msg, details);
export const envError = (msg: string, details = "") => new CniError(Code.InvalidEnvironmentVariables, msg, details);

/** Errors with an errno (from the native addon, fs, or netlink) become code 100 with the errno name. */
export function asCniError(err: unknown, context?: string): CniError {
  if (err instanceof CniError) {
    if (!context) return err;
    return new CniError(err.code, `${context}: ${err.msg}`, err.details);
  }
  const e = err as { message?: string; code?: unknown; errno?: unknown } | undefined;
  const message = e?.message ?? String(err);
  const prefix = context ? `${context}: ` : "";
  if (e && typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) {
    return new CniError(Code.Kernel, `${prefix}${message}`, e.code);
  }
  return new CniError(Code.Internal, `${prefix}${message}`);
}
