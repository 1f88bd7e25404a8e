// GC and STATUS (spec 1.1.0). GC removes the masquerade and MAC spoof-check state of attachments
// not in the valid list (both masquerade backends, matched by the network's comments; spoof-check
// rules by the network hash in their comment) and passes GC on to the IPAM, which releases their
// reservations. Every part is attempted whatever happened to the others — the IPAM gets its GC
// even when netfilter cleanup failed (spec: "MUST forward GC to delegated plugins") — and every
// failure is reported, the first as the error (core/undo.ts Teardown). STATUS is the IPAM's readiness.
import { delegate } from "../../core/delegate";
import type { CmdArgs, GcArgs } from "../../core/plugin";
import { stepAsync, Teardown } from "../../core/undo";
import { parseBridgeConfig } from "./config";
import { findTool } from "../../kernel/tools";
import { gcMasq, gcSpoofCheck } from "./netfilter";

export async function cmdGC(args: GcArgs): Promise<void> {
  const cfg = parseBridgeConfig(args.conf, args);
  const valid = args.validAttachments;
  const parts = new Teardown();
  // Masquerade state may exist from an earlier config with ipMasq on, so look whenever the tools exist.
  if (cfg.ipMasq || findTool("nft") || findTool("iptables-save")) parts.attempt("garbage-collect masquerade rules", () => gcMasq(cfg.name, valid));
  // Spoof-check rules of ours carry the network's hash (masq.ts); the reference's carry no network.
  parts.attempt("garbage-collect MAC spoof-check rules", () => gcSpoofCheck(cfg.name, valid));
  if (cfg.ipamType) {
    const type = cfg.ipamType;
    await parts.attemptAsync(`IPAM plugin "${type}" GC`, () => delegate(type, "GC", args.stdin, args, cfg.cniVersion));
  }
  parts.finish();
}

export async function cmdStatus(args: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(args.conf, args);
  if (!cfg.ipamType) return;
  const type = cfg.ipamType;
  await stepAsync(`IPAM plugin "${type}" STATUS`, () => delegate(type, "STATUS", args.stdin, args, cfg.cniVersion));
}
