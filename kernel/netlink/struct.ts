// Fixed C structs described as data: a list of [field, type] pairs laid out with natural C
// alignment, so the same table drives encoding, decoding and the size check in the tests.
// Netlink uses host byte order except where a field says "be" (network order).
import { endianness } from "node:os";

export const LITTLE_ENDIAN = endianness() === "LE";

export type Scalar = "u8" | "s8" | "u16" | "s16" | "u32" | "s32" | "u64" | "be16" | "be32";
export type FieldType = Scalar | Struct<object> | { bytes: number };
export type FieldDef = readonly [name: string, type: FieldType];

interface Placed {
  name: string;
  type: FieldType;
  offset: number;
}

export interface Struct<T extends object> {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  readonly fields: readonly Placed[];
  /** Encode `value` (missing fields are zero) into a new buffer of `size` bytes. */
  encode(value: Partial<T>): Buffer;
  /** Write into `buf` at `offset`. */
  write(buf: Buffer, value: Partial<T>, offset?: number): void;
  /** Decode from `buf` at `offset`; throws if the buffer is too short. */
  decode(buf: Buffer, offset?: number): T;
}

const scalarSize: Record<Scalar, number> = { u8: 1, s8: 1, u16: 2, s16: 2, be16: 2, u32: 4, s32: 4, be32: 4, u64: 8 };

function sizeAlign(t: FieldType): [number, number] {
  if (typeof t === "string") return [scalarSize[t], scalarSize[t]];
  if ("bytes" in t) return [t.bytes, 1];
  return [t.size, t.align];
}

export function readScalar(buf: Buffer, off: number, t: Scalar): number {
  const le = LITTLE_ENDIAN;
  switch (t) {
    case "u8": return buf.readUInt8(off);
    case "s8": return buf.readInt8(off);
    case "u16": return le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
    case "s16": return le ? buf.readInt16LE(off) : buf.readInt16BE(off);
    case "be16": return buf.readUInt16BE(off);
    case "u32": return le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    case "s32": return le ? buf.readInt32LE(off) : buf.readInt32BE(off);
    case "be32": return buf.readUInt32BE(off);
    case "u64": return Number(le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off));
  }
}

export function writeScalar(buf: Buffer, off: number, t: Scalar, v: number | bigint): void {
  const le = LITTLE_ENDIAN;
  const n = typeof v === "bigint" ? Number(v) : v;
  switch (t) {
    case "u8": buf.writeUInt8(n >>> 0 & 0xff, off); return;
    case "s8": buf.writeInt8(n, off); return;
    case "u16": le ? buf.writeUInt16LE(n & 0xffff, off) : buf.writeUInt16BE(n & 0xffff, off); return;
    case "s16": le ? buf.writeInt16LE(n, off) : buf.writeInt16BE(n, off); return;
    case "be16": buf.writeUInt16BE(n & 0xffff, off); return;
    case "u32": le ? buf.writeUInt32LE(n >>> 0, off) : buf.writeUInt32BE(n >>> 0, off); return;
    case "s32": le ? buf.writeInt32LE(n | 0, off) : buf.writeInt32BE(n | 0, off); return;
    case "be32": buf.writeUInt32BE(n >>> 0, off); return;
    case "u64": {
      const b = BigInt.asUintN(64, BigInt(v));
      le ? buf.writeBigUInt64LE(b, off) : buf.writeBigUInt64BE(b, off);
      return;
    }
  }
}

export function defineStruct<T extends object>(name: string, defs: readonly FieldDef[]): Struct<T> {
  let offset = 0;
  let align = 1;
  const fields: Placed[] = [];
  for (const [fname, type] of defs) {
    const [size, a] = sizeAlign(type);
    offset = Math.ceil(offset / a) * a;
    fields.push({ name: fname, type, offset });
    offset += size;
    align = Math.max(align, a);
  }
  const size = Math.ceil(offset / align) * align;

  const struct: Struct<T> = {
    name,
    size,
    align,
    fields,
    encode(value) {
      const buf = Buffer.alloc(size);
      struct.write(buf, value, 0);
      return buf;
    },
    write(buf, value, base = 0) {
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        const x = v[f.name];
        if (x === undefined) continue;
        if (typeof f.type === "string") writeScalar(buf, base + f.offset, f.type, x as number);
        else if ("bytes" in f.type) (x as Buffer).copy(buf, base + f.offset, 0, f.type.bytes);
        else f.type.write(buf, x as object, base + f.offset);
      }
    },
    decode(buf, base = 0) {
      if (buf.length < base + size) throw new RangeError(`${name}: need ${size} bytes, have ${buf.length - base}`);
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        if (typeof f.type === "string") out[f.name] = readScalar(buf, base + f.offset, f.type);
        else if ("bytes" in f.type) out[f.name] = Buffer.from(buf.subarray(base + f.offset, base + f.offset + f.type.bytes));
        else out[f.name] = f.type.decode(buf, base + f.offset);
      }
      return out as T;
    },
  };
  return struct;
}
