// Typed wrappers over the raw bpf() syscall, one per command we use. Each returns plain values or
// fds (numbers the caller owns and must close) and throws BpfError. Nothing here keeps state.
import { native } from "../native";
import { Attr, Info, type Layout, type Values, cstr, encode, readName, readTag, readU32, readU64 } from "./attr";
import { Cmd, type CmdName, MprogFlag } from "./constants";
import { BpfError, wrapSysError } from "./errors";

function call<L extends Layout>(cmd: CmdName, l: L, values: Values<L>, what: string): { ret: number; attr: Buffer } {
  const attr = encode(l, values);
  try {
    const ret = native().bpf(Cmd[cmd], attr);
    return { ret, attr };
  } catch (e) {
    throw wrapSysError(e, cmd, what);
  } finally {
    // Keep pointer targets alive across the syscall (encode wrote their raw addresses).
    void values;
  }
}

export function closeFd(fd: number | undefined): void {
  if (fd === undefined || fd < 0) return;
  try {
    native().close(fd);
  } catch {
    /* already closed */
  }
}

// ---- maps ----------------------------------------------------------------------------------------

export interface MapCreateOpts {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
}

export function mapCreate(o: MapCreateOpts): number {
  return call("MAP_CREATE", Attr.MAP_CREATE, {
    map_type: o.type, key_size: o.keySize, value_size: o.valueSize, max_entries: o.maxEntries,
    map_flags: o.flags ?? 0, map_name: o.name,
  }, `create map ${o.name ?? ""}`).ret;
}

/** Look up `key`; returns the value (valueSize bytes; per-CPU maps: one slot per possible CPU) or undefined. */
export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | undefined {
  const value = Buffer.alloc(valueSize);
  try {
    call("MAP_LOOKUP_ELEM", Attr.MAP_ELEM, { map_fd: fd, key, value }, "map lookup");
  } catch (e) {
    if (e instanceof BpfError && e.code === "ENOENT") return undefined;
    throw e;
  }
  return value;
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags = 0): void {
  call("MAP_UPDATE_ELEM", Attr.MAP_ELEM, { map_fd: fd, key, value, flags }, "map update");
}

/** Delete `key`; false if it was not there. */
export function mapDelete(fd: number, key: Buffer): boolean {
  try {
    call("MAP_DELETE_ELEM", Attr.MAP_ELEM, { map_fd: fd, key }, "map delete");
    return true;
  } catch (e) {
    if (e instanceof BpfError && e.code === "ENOENT") return false;
    throw e;
  }
}

/** The key after `key` (undefined key: the first one); undefined at the end. */
export function mapNextKey(fd: number, key: Buffer | undefined, keySize: number): Buffer | undefined {
  const next = Buffer.alloc(keySize);
  try {
    call("MAP_GET_NEXT_KEY", Attr.MAP_ELEM, { map_fd: fd, key: key ?? Buffer.alloc(0), value: next }, "map next key");
  } catch (e) {
    if (e instanceof BpfError && e.code === "ENOENT") return undefined;
    throw e;
  }
  return next;
}

export function* mapKeys(fd: number, keySize: number): Generator<Buffer> {
  let key: Buffer | undefined;
  while ((key = mapNextKey(fd, key, keySize))) yield key;
}

// ---- programs ------------------------------------------------------------------------------------

export interface ProgLoadOpts {
  type: number;
  /** Instructions, 8 bytes each, already relocated. */
  insns: Buffer;
  license: string;
  name?: string;
  expectedAttachType?: number;
  /** Verifier log level used on the retry after a failure (1 = instructions, 2 = states). */
  logLevel?: number;
}

/**
 * Load a program. The first attempt runs without a verifier log (faster, no buffer); if the
 * kernel refuses, the load is repeated with a log so the error says why (as cilium/ebpf does).
 */
export function progLoad(o: ProgLoadOpts): number {
  const base = {
    prog_type: o.type, insn_cnt: o.insns.length / 8, insns: o.insns, license: cstr(o.license),
    prog_name: o.name, expected_attach_type: o.expectedAttachType ?? 0,
  };
  try {
    return retryInterrupted(() => call("PROG_LOAD", Attr.PROG_LOAD, base, `load program ${o.name ?? ""}`).ret);
  } catch (first) {
    if (!(first instanceof BpfError) || first.code === "EPERM") throw first;
    // A log too small for the verifier's output is ENOSPC: retry with 4× the room, up to 64 MiB.
    for (let size = 1 << 20; ; size <<= 2) {
      const log = Buffer.alloc(size);
      try {
        // A successful retry (a transient failure) still returns a valid fd.
        return call("PROG_LOAD", Attr.PROG_LOAD, { ...base, log_level: o.logLevel ?? 1, log_size: size, log_buf: log }, "").ret;
      } catch (e) {
        if (e instanceof BpfError && e.code === "ENOSPC" && size < 1 << 26) continue;
        const text = log.subarray(0, Math.max(0, log.indexOf(0))).toString("utf8");
        throw new BpfError(first.code, first.errno, "PROG_LOAD", `${first.message}${text ? " (verifier log attached)" : ""}`, text);
      }
    }
  }
}

/**
 * The verifier gives up with EAGAIN when a signal is pending for the thread (a profiler's SIGPROF,
 * a timer aimed at another wait): the load was not refused, so it is repeated, as libbpf does
 * (PROG_LOAD_ATTEMPTS, 5 tries).
 */
export const PROG_LOAD_ATTEMPTS = 5;
export function retryInterrupted<T>(fn: () => T, attempts = PROG_LOAD_ATTEMPTS): T {
  for (let i = 1; ; i++) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof BpfError && e.code === "EAGAIN") || i >= attempts) throw e;
    }
  }
}

export interface TestRunOpts {
  data: Buffer;
  /** struct __sk_buff to start from (mark, priority, ifindex, tstamp, gso_segs, gso_size...). */
  ctx?: Buffer;
  repeat?: number;
  /** Room for the packet after the run; default data.length + 256. */
  dataOutSize?: number;
}

export interface TestRunResult {
  /** The program's return value, signed (TCX_NEXT = -1). */
  retval: number;
  /** Average ns per run. */
  durationNs: number;
  dataOut: Buffer;
  ctxOut?: Buffer;
}

export function progTestRun(fd: number, o: TestRunOpts): TestRunResult {
  const dataOut = Buffer.alloc(o.dataOutSize ?? o.data.length + 256);
  const ctxOut = o.ctx ? Buffer.alloc(o.ctx.length) : undefined;
  const { attr } = call("PROG_TEST_RUN", Attr.PROG_TEST_RUN, {
    prog_fd: fd, data_in: o.data, data_size_in: o.data.length, data_out: dataOut, data_size_out: dataOut.length,
    repeat: o.repeat ?? 1, ctx_in: o.ctx, ctx_size_in: o.ctx?.length, ctx_out: ctxOut, ctx_size_out: ctxOut?.length,
  }, "test run");
  const retval = attr.readInt32LE(Attr.PROG_TEST_RUN.fields.retval[0]);
  return {
    retval,
    durationNs: readU32(Attr.PROG_TEST_RUN, attr, "duration"),
    dataOut: dataOut.subarray(0, readU32(Attr.PROG_TEST_RUN, attr, "data_size_out")),
    ctxOut,
  };
}

// ---- pins ----------------------------------------------------------------------------------------

export function objPin(fd: number, path: string): void {
  call("OBJ_PIN", Attr.OBJ, { pathname: cstr(path), bpf_fd: fd }, `pin ${path}`);
}

export const OpenFlag = { RDWR: 0, RDONLY: 1 << 3, WRONLY: 1 << 4 } as const;

/** Open a pinned object; ENOENT if the pin does not exist. */
export function objGet(path: string, flags = 0): number {
  return call("OBJ_GET", Attr.OBJ, { pathname: cstr(path), file_flags: flags }, `open pin ${path}`).ret;
}

// ---- links ---------------------------------------------------------------------------------------

export interface LinkCreateOpts {
  progFd: number;
  ifindex: number;
  attachType: number;
  /** mprog ordering: BEFORE/AFTER a program (relativeFd = its fd) or at the head/tail (no fd). */
  flags?: number;
  relativeFd?: number;
  /** Fail with ESTALE unless the attachment point is at this revision (0 = don't care). */
  expectedRevision?: bigint;
}

export function linkCreate(o: LinkCreateOpts): number {
  return call("LINK_CREATE", Attr.LINK_CREATE, {
    prog_fd: o.progFd, target_ifindex: o.ifindex, attach_type: o.attachType, flags: o.flags ?? 0,
    relative_fd: o.relativeFd ?? 0, expected_revision: o.expectedRevision ?? 0n,
  }, `attach to ifindex ${o.ifindex}`).ret;
}

/** Detach a link's program now (the link fd stays valid, as a "defunct" link, until closed). */
export function linkDetach(linkFd: number): void {
  call("LINK_DETACH", Attr.LINK_DETACH, { link_fd: linkFd }, "link detach");
}

// ---- by id ---------------------------------------------------------------------------------------

export const progFdById = (id: number) => call("PROG_GET_FD_BY_ID", Attr.GET_FD_BY_ID, { id }, `prog id ${id}`).ret;
export const mapFdById = (id: number) => call("MAP_GET_FD_BY_ID", Attr.GET_FD_BY_ID, { id }, `map id ${id}`).ret;
export const linkFdById = (id: number) => call("LINK_GET_FD_BY_ID", Attr.GET_FD_BY_ID, { id }, `link id ${id}`).ret;

// ---- info ----------------------------------------------------------------------------------------

/** OBJ_GET_INFO_BY_FD into a buffer of layout `l`, with `values` (pointers to arrays it should fill) set first. */
function objInfo<L extends Layout>(fd: number, l: L, values: Values<L> = {}): Buffer {
  const info = encode(l, values);
  call("OBJ_GET_INFO_BY_FD", Attr.OBJ_GET_INFO_BY_FD, { bpf_fd: fd, info_len: l.size, info }, "object info");
  void values; // pointer targets stay alive until here
  return info;
}

export interface ProgInfo {
  type: number;
  id: number;
  /** sha1-based program tag, hex: equal tags mean equal instructions. */
  tag: string;
  name: string;
  mapIds: number[];
}

export function progInfo(fd: number): ProgInfo {
  const MAX_MAPS = 64;
  const ids = Buffer.alloc(MAX_MAPS * 4);
  const b = objInfo(fd, Info.PROG, { nr_map_ids: MAX_MAPS, map_ids: ids });
  const n = Math.min(readU32(Info.PROG, b, "nr_map_ids"), MAX_MAPS);
  return {
    type: readU32(Info.PROG, b, "type"),
    id: readU32(Info.PROG, b, "id"),
    tag: readTag(Info.PROG, b, "tag"),
    name: readName(Info.PROG, b, "name"),
    mapIds: Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4)),
  };
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

export function mapInfo(fd: number): MapInfo {
  const b = objInfo(fd, Info.MAP);
  const u32 = (f: keyof typeof Info.MAP.fields & string) => readU32(Info.MAP, b, f);
  return {
    type: u32("type"), id: u32("id"), keySize: u32("key_size"), valueSize: u32("value_size"),
    maxEntries: u32("max_entries"), flags: u32("map_flags"), name: readName(Info.MAP, b, "name"),
  };
}

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  /** TCX links: the device and direction; 0 once the device is gone or the link was detached. */
  ifindex: number;
  attachType: number;
}

export function linkInfo(fd: number): LinkInfo {
  const b = objInfo(fd, Info.LINK);
  const u32 = (f: keyof typeof Info.LINK.fields & string) => readU32(Info.LINK, b, f);
  return { type: u32("type"), id: u32("id"), progId: u32("prog_id"), ifindex: u32("tcx_ifindex"), attachType: u32("tcx_attach_type") };
}

// ---- query ---------------------------------------------------------------------------------------

export interface TcxQuery {
  /** Program ids in run order. */
  progIds: number[];
  /** Link ids, parallel to progIds (0 for programs attached without a link). */
  linkIds: number[];
  /** The attachment point's revision, for LinkCreateOpts.expectedRevision. */
  revision: bigint;
}

/** PROG_QUERY on a device's TCX hook (attach type 46/47). */
export function tcxQuery(ifindex: number, attachType: number): TcxQuery {
  const MAX = 64;
  const progIds = Buffer.alloc(MAX * 4);
  const linkIds = Buffer.alloc(MAX * 4);
  const { attr } = call("PROG_QUERY", Attr.PROG_QUERY, {
    target_ifindex: ifindex, attach_type: attachType, prog_ids: progIds, link_ids: linkIds, count: MAX,
  }, `query ifindex ${ifindex}`);
  const n = Math.min(readU32(Attr.PROG_QUERY, attr, "count"), MAX);
  return {
    progIds: Array.from({ length: n }, (_, i) => progIds.readUInt32LE(i * 4)),
    linkIds: Array.from({ length: n }, (_, i) => linkIds.readUInt32LE(i * 4)),
    revision: readU64(Attr.PROG_QUERY, attr, "revision"),
  };
}

export { MprogFlag };
