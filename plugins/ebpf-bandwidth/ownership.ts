// Which kernel state is ours (issue #11): we never change or delete another tool's root qdisc or
// device. Pure: decisions from what a dump shows, unit-tested without root; htb.ts and ifb.ts act
// on them.
//
//   root qdisc of a device    ours (our kind, our handle major)  → reuse
//                             the kernel's default (handle 0:, or none shown: noqueue, pfifo_fast,
//                             mq, fq_codel as the kernel installs them) → replace with ours
//                             anything else                      → refuse (code 105), change nothing
//   the IFB (ifbDevice)       created by us: IFLA_IFALIAS = IFB_MARK → ours, deleted with our last class
//                             unmarked, with our own HTB root    → made by a build before the mark:
//                                                                  adopted (marked) by ADD
//                             unmarked otherwise                 → a guest's: our root (defcls
//                                                                  GUEST_DEFCLS) and classes only,
//                                                                  removed again; never the device
//                             not an ifb                         → refuse (code 105)
import { CniError, Code } from "../../core/errors";
import { type Link, type Qdisc, formatQdiscHandle, tcHandle } from "../../kernel/netlink/index";

/** The IFLA_IFALIAS of an IFB ebpf-bandwidth created (and so may delete). */
export const IFB_MARK = "tscni ebpf-bandwidth";

/**
 * The default class of the HTB root we add to an IFB we did not create. Unclassified packets go to
 * the direct queue either way (no class has this minor: ours stay below 3 × LEAF_STRIDE = 0xfffc),
 * but it tells our root on someone else's device apart from the root of an IFB an earlier build
 * created (default class 0), which ADD adopts.
 */
export const GUEST_DEFCLS = 0xffff;

export type RootOwner = "ours" | "default" | "foreign";

/** Ours (one of our kinds with our handle), the kernel's default (handle 0:), or another tool's. */
export function rootOwner(root: Qdisc | undefined, kinds: readonly string[], major: number): RootOwner {
  if (!root || root.handle === 0) return "default";
  return kinds.includes(root.kind) && root.handle === tcHandle(major, 0) ? "ours" : "foreign";
}

export type IfbOwner = "ours" | "legacy" | "guest" | "not-ifb";

/** Who the device named by ifbDevice belongs to, from its link and its root qdisc. */
export function ifbOwner(link: Link, root: Qdisc | undefined, major: number): IfbOwner {
  if (link.kind !== "ifb") return "not-ifb";
  if (link.alias === IFB_MARK) return "ours";
  const ourRoot = rootOwner(root, ["htb"], major) === "ours";
  return ourRoot && root?.htb?.defaultClass !== GUEST_DEFCLS ? "legacy" : "guest";
}

const NOTHING_CHANGED = "nothing was changed";

/** Code 105: the device's root is another tool's. `device` names it for the user ("ifbDevice x", or the veth's name). */
export const foreignRootError = (device: string, root: Qdisc, ourKind: string, ourMajor: number) =>
  new CniError(
    Code.ForeignState,
    `ebpf-bandwidth: ${device} already has a root qdisc of another tool (${root.kind} ${formatQdiscHandle(root.handle)})`,
    `${NOTHING_CHANGED}; ebpf-bandwidth needs the root of this device for its ${ourKind === "htb" ? "HTB" : ourKind} (handle ${formatQdiscHandle(tcHandle(ourMajor, 0))})`,
  );

export const notIfbError = (name: string, kind: string | undefined) =>
  new CniError(Code.ForeignState, `ebpf-bandwidth: ifbDevice ${name} is a ${kind ?? "non-virtual"} device, not an ifb`, `${NOTHING_CHANGED}; name an ifb device, or one that does not exist yet`);

export const guestIfbDownError = (name: string) =>
  new CniError(
    Code.ForeignState,
    `ebpf-bandwidth: ifbDevice ${name} is down and was not created by ebpf-bandwidth`,
    `${NOTHING_CHANGED}; bring it up (ip link set ${name} up) or name a device ebpf-bandwidth may create`,
  );
