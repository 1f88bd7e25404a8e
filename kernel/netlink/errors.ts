// NetlinkError: a kernel refusal with its errno, the errno's name, and the kernel's own
// explanation (extended ACK) when it gave one. Message: "RTM_NEWLINK veth0: File exists (extack)".
import { constants } from "node:os";

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  // First name wins so EAGAIN beats EWOULDBLOCK, EDEADLK beats EDEADLOCK.
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}
errnoNames.set(95, "EOPNOTSUPP"); // Node lists the alias ENOTSUP first; Linux tools say EOPNOTSUPP
errnoNames.set(524, "ENOTSUPP"); // kernel-internal, leaks out of some tc/bpf paths

// glibc strerror() texts for the errnos rtnetlink commonly returns (matches `ip` output).
const strerror: Record<string, string> = {
  EPERM: "Operation not permitted", ENOENT: "No such file or directory", ESRCH: "No such process",
  EINTR: "Interrupted system call", EIO: "Input/output error", ENXIO: "No such device or address",
  E2BIG: "Argument list too long", EBADF: "Bad file descriptor", EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory", EACCES: "Permission denied", EFAULT: "Bad address", EBUSY: "Device or resource busy",
  EEXIST: "File exists", EXDEV: "Invalid cross-device link", ENODEV: "No such device", ENOTDIR: "Not a directory",
  EINVAL: "Invalid argument", ENFILE: "Too many open files in system", EMFILE: "Too many open files",
  ENOSPC: "No space left on device", ERANGE: "Numerical result out of range", ENAMETOOLONG: "File name too long",
  ENOSYS: "Function not implemented", ENOTEMPTY: "Directory not empty", ENOMSG: "No message of desired type",
  ENODATA: "No data available", EPROTO: "Protocol error", EOVERFLOW: "Value too large for defined data type",
  EOPNOTSUPP: "Operation not supported", EAFNOSUPPORT: "Address family not supported by protocol",
  EADDRINUSE: "Address already in use", EADDRNOTAVAIL: "Cannot assign requested address", ENETDOWN: "Network is down",
  ENETUNREACH: "Network is unreachable", ENOBUFS: "No buffer space available", ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host", EALREADY: "Operation already in progress", EMSGSIZE: "Message too long",
  EPROTONOSUPPORT: "Protocol not supported", ENOTCONN: "Transport endpoint is not connected", ENOTSUPP: "Unknown error 524",
};

export const errnoName = (errno: number): string => errnoNames.get(errno) ?? `E${errno}`;
export const errnoText = (errno: number): string => strerror[errnoName(errno)] ?? `Unknown error ${errno}`;

export interface NetlinkErrorInit {
  errno: number;
  /** The request: "RTM_NEWLINK". */
  op: string;
  /** What it was about, for the message: an interface name, a prefix, a tc handle. */
  target?: string;
  extack?: string;
  /** Byte offset of the offending attribute in the request (NLMSGERR_ATTR_OFFS). */
  extackOffset?: number;
  /** Set when the socket call itself failed (send/recv, e.g. a receive timeout), not the kernel's answer. */
  syscall?: string;
}

export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly target?: string;
  readonly extack?: string;
  readonly extackOffset?: number;
  readonly syscall?: string;

  constructor(init: NetlinkErrorInit) {
    const where = init.target ? `${init.op} ${init.target}` : init.op;
    const detail = init.extack ?? (init.syscall ? `${init.syscall}()` : undefined);
    super(`${where}: ${errnoText(init.errno)}${detail ? ` (${detail})` : ""}`);
    this.name = "NetlinkError";
    this.errno = init.errno;
    this.code = errnoName(init.errno);
    this.op = init.op;
    if (init.target !== undefined) this.target = init.target;
    if (init.extack !== undefined) this.extack = init.extack;
    if (init.extackOffset !== undefined) this.extackOffset = init.extackOffset;
    if (init.syscall !== undefined) this.syscall = init.syscall;
  }
}

export const isNetlinkError = (e: unknown, code?: string): e is NetlinkError =>
  e instanceof NetlinkError && (code === undefined || e.code === code);
