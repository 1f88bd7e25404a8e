// Netlink attributes (struct nlattr TLVs) driven by schemas: a schema maps a property name to
// {attribute id, value type}. encodeAttrs/decodeAttrs walk the schema, so each message family
// is a table, not code, and the schema's table also types what decodeAttrs returns (Decoded).
// Nested schemas may depend on a sibling (IFLA_INFO_DATA depends on IFLA_INFO_KIND, TCA_OPTIONS on
// TCA_KIND): a "dynamic" type is a function of the known siblings, typed by what it can decode to.
import { NLA_F_NESTED, NLA_TYPE_MASK } from "./constants";
import { formatIpBytes, parseIpBytes } from "../../core/ip";
import { formatMac, parseMac } from "./mac";
import { type Scalar, type Struct, readScalar, writeScalar } from "./struct";

export const NLA_ALIGNTO = 4;
export const NLA_HDRLEN = 4;
export const nlaAlign = (n: number) => (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);

/** Attribute values to encode (and what an untyped schema decodes to). */
export type Attrs = { [name: string]: unknown };

/** A fixed header followed by attributes: a whole message body, or VETH_INFO_PEER's payload. */
export interface BodySpec<H extends object = object, D extends AttrDefs = AttrDefs> {
  header: Struct<H>;
  attrs: AttrSchema<D>;
}
export interface Body<H = Record<string, number>> {
  header: H;
  attrs: Attrs;
}

export type AttrType =
  | Scalar
  | "flag" // no payload: present = true
  | "string" // NUL-terminated on encode, trailing NULs stripped on decode
  | "bytes" // raw Buffer
  | "mac" // "aa:bb:cc:dd:ee:ff"
  | "ip" // 4 or 16 bytes ↔ dotted/colon string
  | { nested: AttrSchema }
  | { struct: Struct<object> }
  | { body: BodySpec }
  /** Type chosen from sibling attributes (undefined: unknown, kept as raw bytes on decode). */
  | DynamicType;

/** A dynamic attribute; `V` is what it decodes to (declare it with dynamicAttr). */
export interface DynamicType<V = unknown> {
  dynamic: (siblings: Attrs) => AttrType | undefined;
  /** Type-level only: never set. */
  readonly decodesTo?: V;
}

/** A dynamic attribute whose decoded value is one of `V` (a layout chosen by `pick`, or raw bytes). */
export const dynamicAttr = <V>(pick: (siblings: Attrs) => AttrType | undefined): DynamicType<V | Buffer> => ({ dynamic: pick });

export interface AttrDef {
  id: number;
  type: AttrType;
  /** The attribute may repeat: the value is an array. */
  multi?: boolean;
  /** Set NLA_F_NESTED on encode (some kernel paths, e.g. IFLA_PROTINFO for bridges, require it). */
  nestedFlag?: boolean;
}

export type AttrDefs = Readonly<Record<string, AttrDef>>;

export interface AttrSchema<D extends AttrDefs = AttrDefs> {
  readonly name: string;
  readonly defs: D;
  readonly byId: ReadonlyMap<number, [string, AttrDef]>;
}

/** What one attribute of type `T` decodes to. */
type ValueOf<T> = T extends "flag"
  ? boolean
  : T extends "string" | "mac" | "ip"
    ? string
    : T extends "bytes"
      ? Buffer
      : T extends Scalar
        ? number
        : T extends { readonly nested: AttrSchema<infer D> }
          ? Decoded<D>
          : T extends { readonly struct: Struct<infer V> }
            ? V
            : T extends { readonly body: BodySpec<infer H, infer D> }
              ? { header: H; attrs: Decoded<D> }
              : T extends DynamicType<infer V>
                ? V
                : unknown;

/** What decodeAttrs returns for a schema with these definitions: each attribute optional (the kernel may leave it out). */
export type Decoded<D extends AttrDefs> = {
  -readonly [K in keyof D]?: D[K] extends { readonly multi: true } ? ValueOf<D[K]["type"]>[] : ValueOf<D[K]["type"]>;
};

/** The decoded form of a schema: `DecodedOf<typeof linkAttrs>`. */
export type DecodedOf<S> = S extends AttrSchema<infer D> ? Decoded<D> : never;

export function defineAttrs<const D extends AttrDefs>(name: string, defs: D): AttrSchema<D> {
  const byId = new Map<number, [string, AttrDef]>();
  for (const [k, d] of Object.entries(defs)) {
    if (byId.has(d.id)) throw new Error(`${name}: duplicate attribute id ${d.id} (${k})`);
    byId.set(d.id, [k, d]);
  }
  return { name, defs, byId };
}

/** One raw attribute: type without flag bits, flags, and its payload (a view, not a copy). */
export interface RawAttr {
  type: number;
  nested: boolean;
  payload: Buffer;
}

/** Split a TLV run into attributes. Stops at a truncated trailing attribute instead of throwing. */
export function splitAttrs(buf: Buffer, offset = 0, end = buf.length): RawAttr[] {
  const out: RawAttr[] = [];
  let off = offset;
  while (off + NLA_HDRLEN <= end) {
    const len = readScalar(buf, off, "u16");
    const rawType = readScalar(buf, off + 2, "u16");
    if (len < NLA_HDRLEN || off + len > end) break;
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, payload: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += nlaAlign(len);
  }
  return out;
}

/** Build one attribute (header + payload + padding). */
export function attr(type: number, payload: Buffer): Buffer {
  const len = NLA_HDRLEN + payload.length;
  const buf = Buffer.alloc(nlaAlign(len));
  writeScalar(buf, 0, "u16", len);
  writeScalar(buf, 2, "u16", type);
  payload.copy(buf, NLA_HDRLEN);
  return buf;
}

function scalarBuf(t: Scalar, v: number | bigint): Buffer {
  const size = t === "u8" || t === "s8" ? 1 : t === "u64" ? 8 : t.endsWith("16") ? 2 : 4;
  const b = Buffer.alloc(size);
  writeScalar(b, 0, t, v);
  return b;
}

function encodeValue(def: AttrDef, value: unknown, siblings: Attrs, path: string): Buffer | undefined {
  const t = def.type;
  if (typeof t === "string") {
    switch (t) {
      case "flag": return value ? Buffer.alloc(0) : undefined;
      case "string": return Buffer.from(`${String(value)}\0`, "utf8");
      case "bytes": return Buffer.from(value as Uint8Array);
      case "mac": return parseMac(String(value));
      case "ip": return parseIpBytes(String(value));
      default:
        if (typeof value !== "number" && typeof value !== "bigint") throw new TypeError(`${path}: expected a number`);
        return scalarBuf(t, value);
    }
  }
  if ("struct" in t) return t.struct.encode(value as object);
  if ("body" in t) return encodeBody(t.body, value as Body<object>);
  if ("dynamic" in t) {
    const resolved = t.dynamic(siblings);
    if (!resolved) throw new Error(`${path}: no layout for this attribute given its siblings`);
    return encodeValue({ ...def, type: resolved }, value, siblings, path);
  }
  return encodeAttrs(t.nested, value as Attrs, path);
}

/** Encode `values` in schema order; undefined values are skipped, unknown keys are an error. */
export function encodeAttrs(schema: AttrSchema, values: Attrs, path = schema.name): Buffer {
  for (const k of Object.keys(values)) {
    if (!(k in schema.defs) && values[k] !== undefined) throw new Error(`${path}: unknown attribute "${k}"`);
  }
  const parts: Buffer[] = [];
  for (const [key, def] of Object.entries(schema.defs)) {
    const v = values[key];
    if (v === undefined) continue;
    const type = def.id | (def.nestedFlag ? NLA_F_NESTED : 0);
    const items = def.multi ? (v as unknown[]) : [v];
    for (const item of items) {
      const payload = encodeValue(def, item, values, `${path}.${key}`);
      if (payload) parts.push(attr(type, payload));
    }
  }
  return Buffer.concat(parts);
}

function decodeValue(def: AttrDef, payload: Buffer, siblings: Attrs): unknown {
  const t = def.type;
  if (typeof t === "string") {
    switch (t) {
      case "flag": return true;
      case "string": {
        const nul = payload.indexOf(0);
        return payload.toString("utf8", 0, nul < 0 ? payload.length : nul);
      }
      case "bytes": return Buffer.from(payload);
      case "mac": return formatMac(payload);
      case "ip": return formatIpBytes(payload);
      default: {
        // Tolerate short payloads (u8 sent where u32 expected never happens, but be safe).
        const need = t === "u8" || t === "s8" ? 1 : t === "u64" ? 8 : t.endsWith("16") ? 2 : 4;
        return payload.length >= need ? readScalar(payload, 0, t) : undefined;
      }
    }
  }
  if ("struct" in t) return payload.length >= t.struct.size ? t.struct.decode(payload) : undefined;
  if ("body" in t) return decodeBody(t.body, payload);
  if ("dynamic" in t) {
    const resolved = t.dynamic(siblings);
    return resolved ? decodeValue({ ...def, type: resolved }, payload, siblings) : Buffer.from(payload);
  }
  return decodeAttrs(t.nested, payload);
}

/**
 * Decode a TLV run with `schema`. Unknown attributes are skipped (kernels add attributes all the
 * time). Dynamic attributes, which depend on siblings, are resolved after the plain ones.
 */
export function decodeAttrs<D extends AttrDefs>(schema: AttrSchema<D>, buf: Buffer, offset = 0, end = buf.length): Decoded<D> {
  const out: Attrs = {};
  const deferred: [string, AttrDef, Buffer][] = [];
  for (const a of splitAttrs(buf, offset, end)) {
    const hit = schema.byId.get(a.type);
    if (!hit) continue;
    const [key, def] = hit;
    if (typeof def.type === "object" && "dynamic" in def.type) {
      deferred.push([key, def, a.payload]);
      continue;
    }
    store(out, key, def, decodeValue(def, a.payload, out));
  }
  for (const [key, def, payload] of deferred) store(out, key, def, decodeValue(def, payload, out));
  return out as Decoded<D>; // built by walking this schema's own definitions
}

function store(out: Attrs, key: string, def: AttrDef, v: unknown): void {
  if (v === undefined) return;
  if (def.multi) ((out[key] ??= []) as unknown[]).push(v);
  else out[key] = v;
}

export function encodeBody<H extends object>(spec: BodySpec<H, AttrDefs>, body: { header: Partial<H>; attrs?: Attrs }): Buffer {
  const head = spec.header.encode(body.header);
  return body.attrs ? Buffer.concat([head, encodeAttrs(spec.attrs, body.attrs)]) : head;
}

export function decodeBody<H extends object, D extends AttrDefs>(spec: BodySpec<H, D>, payload: Buffer): { header: H; attrs: Decoded<D> } {
  const header = spec.header.decode(payload);
  return { header, attrs: decodeAttrs(spec.attrs, payload, nlaAlign(spec.header.size)) };
}

/** A message body layout: `header` then the attributes of `attrs`. */
export const defineBody = <H extends object, D extends AttrDefs>(header: Struct<H>, attrs: AttrSchema<D>): BodySpec<H, D> => ({ header, attrs });
