// union bpf_attr, one layout per command, and the bpf_*_info structs OBJ_GET_INFO_BY_FD fills,
// described as data (offset + kind per field) rather than hand-written per call: offsets are
// checked against the UAPI once, here. Unset fields stay zero, which the kernel requires for
// everything past the fields it knows.
import { native } from "../native";

type Kind = "u32" | "s32" | "u64" | "ptr" | "name16" | "tag8";
type Field = readonly [offset: number, kind: Kind];
export interface Layout {
  readonly size: number;
  readonly fields: Readonly<Record<string, Field>>;
}

const layout = <F extends Record<string, Field>>(size: number, fields: F) => ({ size, fields });

export const Attr = {
  MAP_CREATE: layout(72, {
    map_type: [0, "u32"], key_size: [4, "u32"], value_size: [8, "u32"], max_entries: [12, "u32"],
    map_flags: [16, "u32"], inner_map_fd: [20, "u32"], numa_node: [24, "u32"], map_name: [28, "name16"],
    map_ifindex: [44, "u32"], btf_fd: [48, "u32"], btf_key_type_id: [52, "u32"], btf_value_type_id: [56, "u32"],
  }),
  // MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY (value doubles as next_key)
  MAP_ELEM: layout(32, { map_fd: [0, "u32"], key: [8, "ptr"], value: [16, "ptr"], flags: [24, "u64"] }),
  PROG_LOAD: layout(144, {
    prog_type: [0, "u32"], insn_cnt: [4, "u32"], insns: [8, "ptr"], license: [16, "ptr"],
    log_level: [24, "u32"], log_size: [28, "u32"], log_buf: [32, "ptr"], kern_version: [40, "u32"],
    prog_flags: [44, "u32"], prog_name: [48, "name16"], prog_ifindex: [64, "u32"],
    expected_attach_type: [68, "u32"], prog_btf_fd: [72, "u32"], log_true_size: [140, "u32"],
  }),
  // OBJ_PIN, OBJ_GET
  OBJ: layout(24, { pathname: [0, "ptr"], bpf_fd: [8, "u32"], file_flags: [12, "u32"], path_fd: [16, "s32"] }),
  PROG_TEST_RUN: layout(80, {
    prog_fd: [0, "u32"], retval: [4, "u32"], data_size_in: [8, "u32"], data_size_out: [12, "u32"],
    data_in: [16, "ptr"], data_out: [24, "ptr"], repeat: [32, "u32"], duration: [36, "u32"],
    ctx_size_in: [40, "u32"], ctx_size_out: [44, "u32"], ctx_in: [48, "ptr"], ctx_out: [56, "ptr"],
    flags: [64, "u32"], cpu: [68, "u32"], batch_size: [72, "u32"],
  }),
  // PROG_GET_FD_BY_ID, MAP_GET_FD_BY_ID, LINK_GET_FD_BY_ID
  GET_FD_BY_ID: layout(16, { id: [0, "u32"], next_id: [4, "u32"], open_flags: [8, "u32"] }),
  OBJ_GET_INFO_BY_FD: layout(16, { bpf_fd: [0, "u32"], info_len: [4, "u32"], info: [8, "ptr"] }),
  PROG_QUERY: layout(64, {
    target_ifindex: [0, "u32"], attach_type: [4, "u32"], query_flags: [8, "u32"], attach_flags: [12, "u32"],
    prog_ids: [16, "ptr"], count: [24, "u32"], prog_attach_flags: [32, "ptr"], link_ids: [40, "ptr"],
    link_attach_flags: [48, "ptr"], revision: [56, "u64"],
  }),
  LINK_CREATE: layout(64, {
    prog_fd: [0, "u32"], target_ifindex: [4, "u32"], attach_type: [8, "u32"], flags: [12, "u32"],
    relative_fd: [16, "u32"], expected_revision: [24, "u64"],
  }),
  LINK_DETACH: layout(8, { link_fd: [0, "u32"] }),
} as const;

/**
 * What OBJ_GET_INFO_BY_FD writes: the fields we read. `size` is how much we offer; the kernel
 * fills what it knows of that and zeroes nothing beyond (a longer struct on a newer kernel is fine).
 */
export const Info = {
  PROG: layout(224, {
    type: [0, "u32"], id: [4, "u32"], tag: [8, "tag8"], nr_map_ids: [52, "u32"], map_ids: [56, "ptr"], name: [64, "name16"],
  }),
  MAP: layout(88, {
    type: [0, "u32"], id: [4, "u32"], key_size: [8, "u32"], value_size: [12, "u32"], max_entries: [16, "u32"],
    map_flags: [20, "u32"], name: [24, "name16"],
  }),
  // struct bpf_link_info: the per-type union starts at 16 (8-aligned); for TCX it is { ifindex, attach_type }.
  LINK: layout(64, { type: [0, "u32"], id: [4, "u32"], prog_id: [8, "u32"], tcx_ifindex: [16, "u32"], tcx_attach_type: [20, "u32"] }),
} as const;

export type FieldValue = number | bigint | Buffer | string | undefined;
export type Values<L extends Layout> = Partial<Record<keyof L["fields"], FieldValue>>;

/**
 * Encode `values` into a zeroed attr buffer. Pointer fields take a Buffer: its address is written
 * and the Buffer itself stays referenced by `values` until the caller's syscall returns.
 */
export function encode<L extends Layout>(l: L, values: Values<L>): Buffer {
  const buf = Buffer.alloc(l.size);
  for (const [name, v] of Object.entries(values) as [string, FieldValue][]) {
    if (v === undefined) continue;
    const f = l.fields[name];
    if (!f) throw new Error(`bpf_attr: unknown field ${name}`);
    const [off, kind] = f;
    switch (kind) {
      case "u32":
        buf.writeUInt32LE(Number(v) >>> 0, off);
        break;
      case "s32":
        buf.writeInt32LE(Number(v), off);
        break;
      case "u64":
        buf.writeBigUInt64LE(BigInt(v as number | bigint), off);
        break;
      case "ptr":
        if (!Buffer.isBuffer(v)) throw new Error(`bpf_attr: ${name} needs a Buffer`);
        if (v.length > 0) buf.writeBigUInt64LE(native().addressOf(v), off);
        break;
      case "name16":
        Buffer.from(objName(String(v)), "latin1").copy(buf, off);
        break;
      case "tag8":
        throw new Error(`bpf_attr: ${name} is read-only`);
    }
  }
  return buf;
}

export function readU32<L extends Layout>(l: L, buf: Buffer, name: keyof L["fields"] & string): number {
  return buf.readUInt32LE(l.fields[name]![0]);
}

export function readU64<L extends Layout>(l: L, buf: Buffer, name: keyof L["fields"] & string): bigint {
  return buf.readBigUInt64LE(l.fields[name]![0]);
}

/** A name16 field: the C string up to its NUL. */
export function readName<L extends Layout>(l: L, buf: Buffer, name: keyof L["fields"] & string): string {
  const field = buf.subarray(l.fields[name]![0], l.fields[name]![0] + 16);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString("latin1");
}

/** A tag8 field (a program's tag) in hex. */
export function readTag<L extends Layout>(l: L, buf: Buffer, name: keyof L["fields"] & string): string {
  return buf.subarray(l.fields[name]![0], l.fields[name]![0] + 8).toString("hex");
}

/** Object names: at most 15 bytes of [A-Za-z0-9_.], anything else the kernel rejects with EINVAL. */
export function objName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, "_").slice(0, 15);
}

/** A NUL-terminated C string for pointer fields. */
export const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
