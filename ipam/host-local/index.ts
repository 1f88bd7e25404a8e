// The host-local IPAM plugin: config → typed object (config.ts), allocation decisions
// (allocator.ts) against the on-disk store (disk-store.ts), under the store's flock.
import { CniError, Code } from "../../core/errors";
import type { CmdArgs, GcArgs, Plugin } from "../../core/plugin";
import type { IPConfig, Result } from "../../core/result/types";
import { Teardown } from "../../core/undo";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { allocateAll, freeCount } from "./allocator";
import { parseConfig, parseDataDir } from "./config";
import { withStore } from "./disk-store";
import { formatIP, formatIPNet, parseIPOrCIDR } from "../../core/ip";
import { fmt } from "./range";
import { rangeFor, rangeSetString } from "./range-set";
import { readResolvConf } from "./resolv-conf";
import { checkNetworkName } from "./side-files";
import { matchOwner, releaseAttachment, reservationsOf } from "./store";

async function add(args: CmdArgs): Promise<Result> {
  const cfg = parseConfig(args);
  const dns = cfg.resolvConf ? readResolvConf(cfg.resolvConf) : undefined;
  const allocs = withStore(cfg.dataDir, cfg.network, { create: true }, (s) =>
    allocateAll(s, cfg.rangeSets, cfg.requested, args.containerID, args.ifname),
  )!;
  const ips: IPConfig[] = allocs.map((a) => ({ address: formatIPNet(a.ip, a.range.prefix), gateway: fmt(a.range, a.range.gateway) }));
  return {
    cniVersion: cfg.cniVersion,
    ips,
    ...(cfg.routes.length > 0 ? { routes: cfg.routes } : {}),
    ...(dns ? { dns } : {}),
  };
}

/**
 * Release every reservation of the attachment (ID + ifname; legacy ID-only files when there are
 * none). Needs only the store location: a DEL must succeed even if the ranges were since edited
 * into something invalid. A missing store (ENOENT) means nothing to release (so does a name too
 * long to have one); DEL does not create it. A reservation that cannot be read may be this
 * attachment's: it stays, and DEL reports it.
 */
async function del(args: CmdArgs): Promise<void> {
  withStore(parseDataDir(args.conf), args.conf.name, { create: false }, (s) => {
    const parts = new Teardown();
    parts.attempt(undefined, () => releaseAttachment(s, args.containerID, args.ifname));
    parts.attempt(undefined, () => s.assertAllRead());
    parts.finish();
  });
}

/** Every address of prevResult inside our ranges is still reserved for this very attachment. */
async function check(args: CmdArgs): Promise<void> {
  const cfg = parseConfig(args, false);
  const fail = (msg: string, details = "") => new CniError(Code.CheckFailed, msg, details);
  const prev = args.conf.prevResult?.ips;
  const done = withStore(cfg.dataDir, cfg.network, { create: false }, (s) => {
    const mine = prev
      ? prev.map((p) => ({ ip: parseIPOrCIDR(p.address), prefix: Number(p.address.split("/")[1]), text: p.address }))
      : reservationsOf(s, args.containerID, args.ifname).map((t) => ({ ip: parseIPOrCIDR(t), prefix: undefined, text: t }));
    cfg.rangeSets.forEach((set, i) => {
      const inSet = mine.filter((m) => m.ip && rangeFor(set, m.ip));
      if (inSet.length === 0) {
        throw fail(`no address of range set ${i} (${rangeSetString(set)}) is ${prev ? "in prevResult" : "reserved"} for ${args.containerID}/${args.ifname}`);
      }
      for (const m of inSet) {
        const r = rangeFor(set, m.ip!)!;
        if (m.prefix !== undefined && m.prefix !== r.prefix) throw fail(`${m.text} has the wrong prefix length`, `subnet is /${r.prefix}`);
        const text = formatIP(m.ip!);
        const owner = s.reread(text);
        if (!owner || !matchOwner(owner, args.containerID, args.ifname)) {
          throw fail(`${text} is not reserved for ${args.containerID}/${args.ifname}`, owner ? `held by ${JSON.stringify(owner)}` : "no reservation");
        }
      }
    });
    return true;
  });
  if (!done) throw fail("no reservations for this network", `store ${cfg.dataDir}/${cfg.network} does not exist`);
}

/**
 * Remove every reservation not held by a valid attachment (the list is required: the dispatcher
 * refuses a GC without it); lock and last_reserved_ip.* stay. Every removal is attempted; those
 * that fail, and reservations that could not be read, stay and are reported.
 */
async function gc(args: GcArgs): Promise<void> {
  checkNetworkName(args.conf.name);
  const valid = args.validAttachments;
  withStore(parseDataDir(args.conf), args.conf.name, { create: false }, (s) => {
    const parts = new Teardown();
    for (const [ip, content] of [...s.list()]) {
      if (!valid.some((a) => matchOwner(content, a.containerID, a.ifname))) parts.attempt(undefined, () => s.release(ip));
    }
    parts.attempt(undefined, () => s.assertAllRead());
    parts.finish();
  });
}

/** Ready when the store takes writes and every range set has a free address (ADD needs one of each). */
async function status(args: CmdArgs): Promise<void> {
  const cfg = parseConfig(args, false);
  const notReady = (msg: string, details = "") => new CniError(Code.PluginNotAvailable, msg, details);
  let full: string | undefined;
  try {
    withStore(cfg.dataDir, cfg.network, { create: true }, (s) => {
      s.assertWritable();
      const i = cfg.rangeSets.findIndex((set) => freeCount(s, set) <= 0n);
      if (i >= 0) full = `range set ${i} (${rangeSetString(cfg.rangeSets[i]!)}) has no free address`;
    });
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(Code.IOFailure, String(e));
    throw notReady(`host-local store is not writable: ${err.msg}`, err.details);
  }
  if (full) throw notReady(full);
}

export const plugin: Plugin = {
  name: "host-local",
  supportedVersions: SUPPORTED_VERSIONS,
  add,
  del,
  check,
  gc,
  status,
};
