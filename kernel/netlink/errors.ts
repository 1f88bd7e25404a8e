// NetlinkError: a kernel refusal with its errno, the errno's name, and the kernel's own
// explanation (extended ACK) when it gave one. Message: "RTM_NEWLINK veth0: File exists (extack)".
import { errnoName, errnoText } from "../errno";

export { errnoName } from "../errno";

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
