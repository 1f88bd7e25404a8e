// TCX attachment (kernel 6.6+): a BPF link per program on a device's ingress or egress hook.
// Links are owned objects: closing the last reference (fd or pin) detaches. Pin the link to keep
// shaping after the plugin exits; a later process opens the pin and detaches (DEL).
//
// target_ifindex is resolved in the calling thread's network namespace, so attaching to a device
// inside a container (or a test's namespace) passes `netns` and the syscall runs inside it.
import * as fs from "node:fs";
import { withNetns } from "../netns";
import { AttachType, MprogFlag } from "./constants";
import { BpfError, isBpfError } from "./errors";
import { BpfLink, type BpfProgram } from "./handles";
import * as sys from "./syscall";

export type Direction = "ingress" | "egress";

export const tcxAttachType = (dir: Direction) => (dir === "ingress" ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS);

export interface TcxAttachOptions {
  ifindex: number;
  direction: Direction;
  /** Namespace (path) the ifindex belongs to; default: the current one. */
  netns?: string;
  /**
   * Where in the device's program list: "last" (default: others attached before us run first),
   * "first", or before/after a given program. Our programs return TCX_NEXT, so order only
   * matters relative to programs that drop or redirect.
   */
  position?: "first" | "last" | { before: BpfProgram } | { after: BpfProgram };
  /** Refuse (ESTALE) if the hook changed since this revision (from tcxQuery). */
  expectedRevision?: bigint;
}

export function attachTcx(prog: BpfProgram, o: TcxAttachOptions): BpfLink {
  let flags = 0;
  let relativeFd = 0;
  const pos = o.position ?? "last";
  if (pos === "first") flags = MprogFlag.BEFORE;
  else if (pos === "last") flags = MprogFlag.AFTER;
  else if ("before" in pos) [flags, relativeFd] = [MprogFlag.BEFORE, pos.before.fd];
  else [flags, relativeFd] = [MprogFlag.AFTER, pos.after.fd];
  const create = () =>
    sys.linkCreate({
      progFd: prog.fd, ifindex: o.ifindex, attachType: tcxAttachType(o.direction), flags, relativeFd,
      expectedRevision: o.expectedRevision,
    });
  return new BpfLink(o.netns ? withNetns(o.netns, create) : create());
}

/** Programs and links on a device's hook, in run order. */
export function queryTcx(ifindex: number, direction: Direction, netns?: string): sys.TcxQuery {
  const q = () => sys.tcxQuery(ifindex, tcxAttachType(direction));
  return netns ? withNetns(netns, q) : q();
}

/**
 * Open a pinned link, detach it, remove the pin. Idempotent: a missing pin, or a link whose device
 * is already gone (the kernel detached it then), is not an error. Returns whether a pin existed.
 */
export function detachPinnedLink(pinPath: string): boolean {
  let link: BpfLink;
  try {
    link = BpfLink.fromPin(pinPath);
  } catch (e) {
    if (e instanceof BpfError && e.code === "ENOENT") return false;
    throw e;
  }
  try {
    link.detach();
  } catch (e) {
    // ENOLINK: already detached, e.g. the device was deleted.
    if (!isBpfError(e, "ENOLINK")) throw e;
  } finally {
    link.close();
  }
  unlinkPin(pinPath);
  return true;
}

function unlinkPin(p: string): void {
  try {
    // bpffs pins are removed with unlink(2).
    fs.unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}
