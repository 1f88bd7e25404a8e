// A reader for ELF64 little-endian relocatable objects, as clang -target bpf writes them. Pure: no
// kernel, no fs. Only what a BPF loader needs: sections, the symbol table and REL relocations.
// (kernel/bpf/spec.ts turns these into programs and maps.)

export const SHT = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9 } as const;
export const SHF_EXECINSTR = 0x4;
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
export const EM_BPF = 247;
export const ET_REL = 1;
/** BPF relocation types (llvm): 64-bit immediate (ld_imm64) and 32-bit call targets. */
export const R_BPF = { NONE: 0, R64_64: 1, R64_ABS64: 2, R64_ABS32: 3, R64_32: 10 } as const;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** The section's bytes (empty for NOBITS). A view into the input buffer. */
  data: Buffer;
}

export interface ElfSymbol {
  index: number;
  name: string;
  type: number;
  bind: number;
  /** Section index the symbol is defined in (0 = undefined). */
  shndx: number;
  value: number;
  size: number;
}

export interface ElfRelocation {
  /** Byte offset inside the target section. */
  offset: number;
  type: number;
  symbol: ElfSymbol;
}

export interface ElfFile {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** REL relocations keyed by the index of the section they apply to. */
  relocations: Map<number, ElfRelocation[]>;
  section(name: string): ElfSection | undefined;
}

export class ElfError extends Error {
  override readonly name = "ElfError";
  readonly code = "EELF";
}

export function parseElf(buf: Buffer): ElfFile {
  const fail = (msg: string): never => {
    throw new ElfError(`not a BPF object: ${msg}`);
  };
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) fail("bad ELF magic");
  if (buf[4] !== 2) fail("not ELF64");
  if (buf[5] !== 1) fail("not little-endian");
  if (buf.readUInt16LE(16) !== ET_REL) fail("not a relocatable object");
  if (buf.readUInt16LE(18) !== EM_BPF) fail(`machine ${buf.readUInt16LE(18)} is not EM_BPF`);

  const shoff = num(buf.readBigUInt64LE(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const shstrndx = buf.readUInt16LE(62);
  if (shentsize !== 64 || shoff + shnum * 64 > buf.length) fail("section headers out of range");

  const raw = Array.from({ length: shnum }, (_, i) => {
    const h = shoff + i * 64;
    const type = buf.readUInt32LE(h + 4);
    const offset = num(buf.readBigUInt64LE(h + 24));
    const size = num(buf.readBigUInt64LE(h + 32));
    if (type !== SHT.NOBITS && offset + size > buf.length) fail(`section ${i} out of range`);
    return {
      nameOff: buf.readUInt32LE(h),
      type,
      flags: buf.readBigUInt64LE(h + 8),
      size,
      link: buf.readUInt32LE(h + 40),
      info: buf.readUInt32LE(h + 44),
      entsize: num(buf.readBigUInt64LE(h + 56)),
      data: type === SHT.NOBITS ? Buffer.alloc(0) : buf.subarray(offset, offset + size),
    };
  });
  const shstr = raw[shstrndx]?.data ?? fail("no section name table");
  const sections: ElfSection[] = raw.map((s, index) => ({ index, name: cstring(shstr, s.nameOff), ...omitNameOff(s) }));

  const symtab = sections.find((s) => s.type === SHT.SYMTAB);
  const symbols: ElfSymbol[] = [];
  if (symtab) {
    const strtab = sections[symtab.link]?.data ?? fail("symbol table without string table");
    for (let i = 0, off = 0; off + 24 <= symtab.data.length; i++, off += 24) {
      const d = symtab.data;
      const info = d[off + 4]!;
      symbols.push({
        index: i,
        name: cstring(strtab, d.readUInt32LE(off)),
        type: info & 0xf,
        bind: info >> 4,
        shndx: d.readUInt16LE(off + 6),
        value: num(d.readBigUInt64LE(off + 8)),
        size: num(d.readBigUInt64LE(off + 16)),
      });
    }
  }

  const relocations = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type === SHT.RELA) fail(`RELA section ${s.name} (BPF objects use REL)`);
    if (s.type !== SHT.REL) continue;
    const list: ElfRelocation[] = [];
    for (let off = 0; off + 16 <= s.data.length; off += 16) {
      const info = s.data.readBigUInt64LE(off + 8);
      const symIndex = Number(info >> 32n);
      const symbol = symbols[symIndex] ?? fail(`relocation in ${s.name} names symbol ${symIndex}`);
      list.push({ offset: num(s.data.readBigUInt64LE(off)), type: Number(info & 0xffffffffn), symbol });
    }
    relocations.set(s.info, list);
  }

  return { sections, symbols, relocations, section: (name) => sections.find((s) => s.name === name) };
}

function omitNameOff<T extends { nameOff: number }>(s: T): Omit<T, "nameOff"> {
  const { nameOff: _unused, ...rest } = s;
  void _unused;
  return rest;
}

function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError("not a BPF object: value out of range");
  return Number(v);
}

function cstring(b: Buffer, off: number): string {
  if (off >= b.length) return "";
  const end = b.indexOf(0, off);
  return b.subarray(off, end < 0 ? b.length : end).toString("utf8");
}
