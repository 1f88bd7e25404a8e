// The one errno table. The native addon and the kernel's netlink answers give the number; this
// names it ("EEXIST", what callers branch on) and gives glibc's text for messages (what `ip` prints).
// Numbers come from Node's table for this platform; the names and texts are Linux's.
import { constants } from "node:os";

/** errno numbers by name, e.g. Errno.ENOLINK. */
export const Errno = { ...constants.errno, ENOTSUPP: 524 } as const;

const names = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  // First name wins so EAGAIN beats EWOULDBLOCK, EDEADLK beats EDEADLOCK.
  if (!names.has(num)) names.set(num, name);
}
names.set(constants.errno.EOPNOTSUPP, "EOPNOTSUPP"); // Node lists the alias ENOTSUP first; Linux tools say EOPNOTSUPP
names.set(524, "ENOTSUPP"); // kernel-internal, leaks out of some tc/bpf paths

// glibc strerror() texts for the errnos the kernel calls here commonly return.
const texts: Record<string, string> = {
  EPERM: "Operation not permitted", ENOENT: "No such file or directory", ESRCH: "No such process",
  EINTR: "Interrupted system call", EIO: "Input/output error", ENXIO: "No such device or address",
  E2BIG: "Argument list too long", EBADF: "Bad file descriptor", EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory", EACCES: "Permission denied", EFAULT: "Bad address", EBUSY: "Device or resource busy",
  EEXIST: "File exists", EXDEV: "Invalid cross-device link", ENODEV: "No such device", ENOTDIR: "Not a directory",
  EINVAL: "Invalid argument", ENFILE: "Too many open files in system", EMFILE: "Too many open files",
  ENOSPC: "No space left on device", ERANGE: "Numerical result out of range", ENAMETOOLONG: "File name too long",
  EDEADLK: "Resource deadlock avoided", ENOSYS: "Function not implemented", ENOTEMPTY: "Directory not empty", ENOMSG: "No message of desired type",
  ENODATA: "No data available", ENOLINK: "Link has been severed", EPROTO: "Protocol error",
  EOVERFLOW: "Value too large for defined data type",
  EOPNOTSUPP: "Operation not supported", EAFNOSUPPORT: "Address family not supported by protocol",
  EADDRINUSE: "Address already in use", EADDRNOTAVAIL: "Cannot assign requested address", ENETDOWN: "Network is down",
  ENETUNREACH: "Network is unreachable", ENOBUFS: "No buffer space available", ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host", EALREADY: "Operation already in progress", EMSGSIZE: "Message too long",
  EPROTONOSUPPORT: "Protocol not supported", ENOTCONN: "Transport endpoint is not connected", ENOTSUPP: "Unknown error 524",
};

/** 17 → "EEXIST"; a number without a name → "E<n>". */
export const errnoName = (errno: number): string => names.get(errno) ?? `E${errno}`;
/** 17 → "File exists", as strerror() says it. */
export const errnoText = (errno: number): string => texts[errnoName(errno)] ?? `Unknown error ${errno}`;
