// From an ELF object to a CollectionSpec: what the object asks for (maps, programs, license),
// independent of the running kernel. Deterministic and pure, so it is parsed once and unit-tested
// without root; everything kernel-dependent happens in loader.ts (cilium/ebpf's spec vs object).
import { AttachType, ProgType } from "./constants";
import { type ElfFile, ElfError, type ElfSection, R_BPF, SHF_EXECINSTR, STB, STT, parseElf } from "./elf";

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** An ld_imm64 at instruction `insn` (index of its first half) that must receive a map's fd. */
export interface MapReference {
  insn: number;
  map: string;
}

export interface ProgramSpec {
  /** The C function name. */
  name: string;
  /** The ELF section, e.g. "tcx/ingress". */
  section: string;
  type: number;
  /** Where the section name says the program belongs (TCX_INGRESS/EGRESS), or NONE. */
  attachHint: number;
  /** Instructions as compiled (8 bytes each); map fds are patched into a copy at load. */
  insns: Buffer;
  mapRefs: MapReference[];
}

export interface CollectionSpec {
  license: string;
  maps: Record<string, MapSpec>;
  programs: Record<string, ProgramSpec>;
}

/** Our map definition: five u32 (type, key_size, value_size, max_entries, map_flags); see bpf/include/tscni_bpf.h. */
export const MAP_DEF_SIZE = 20;
const MAPS_SECTION = "maps";
const LD_IMM64 = 0x18;

/** Program type by section name prefix (libbpf conventions for the ones we use). */
const SECTION_TYPES: [prefix: string, type: number, attach: number][] = [
  ["tcx/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS],
  ["tcx/egress", ProgType.SCHED_CLS, AttachType.TCX_EGRESS],
  ["tc", ProgType.SCHED_CLS, AttachType.NONE],
  ["classifier", ProgType.SCHED_CLS, AttachType.NONE],
];

export function collectionSpec(object: Buffer | ElfFile): CollectionSpec {
  const elf = Buffer.isBuffer(object) ? parseElf(object) : object;
  const license = readLicense(elf);
  const maps = readMaps(elf);
  const programs: Record<string, ProgramSpec> = {};
  for (const sec of elf.sections) {
    if ((sec.flags & BigInt(SHF_EXECINSTR)) === 0n || sec.size === 0) continue;
    for (const p of readPrograms(elf, sec, maps)) {
      if (programs[p.name]) throw new ElfError(`program ${p.name} defined twice`);
      programs[p.name] = p;
    }
  }
  return { license, maps, programs };
}

function readLicense(elf: ElfFile): string {
  const sec = elf.section("license");
  if (!sec) throw new ElfError('BPF object has no "license" section');
  const end = sec.data.indexOf(0);
  return sec.data.subarray(0, end < 0 ? sec.data.length : end).toString("utf8");
}

function readMaps(elf: ElfFile): Record<string, MapSpec> {
  const sec = elf.section(MAPS_SECTION);
  const maps: Record<string, MapSpec> = {};
  if (!sec) return maps;
  for (const sym of elf.symbols) {
    if (sym.shndx !== sec.index || sym.type !== STT.OBJECT) continue;
    if (sym.size !== MAP_DEF_SIZE || sym.value + MAP_DEF_SIZE > sec.data.length) {
      throw new ElfError(`map ${sym.name}: definition is ${sym.size} bytes, expected ${MAP_DEF_SIZE}`);
    }
    const d = sec.data.subarray(sym.value, sym.value + MAP_DEF_SIZE);
    maps[sym.name] = {
      name: sym.name,
      type: d.readUInt32LE(0),
      keySize: d.readUInt32LE(4),
      valueSize: d.readUInt32LE(8),
      maxEntries: d.readUInt32LE(12),
      flags: d.readUInt32LE(16),
    };
  }
  return maps;
}

function readPrograms(elf: ElfFile, sec: ElfSection, maps: Record<string, MapSpec>): ProgramSpec[] {
  const kind = SECTION_TYPES.find(([prefix]) => sec.name === prefix || sec.name.startsWith(`${prefix}/`));
  if (sec.name === ".text") {
    // Non-inlined helper functions land here and would need bpf-to-bpf call linking.
    throw new ElfError("code in .text (a non-inlined function?): mark helpers __always_inline");
  }
  if (!kind) throw new ElfError(`section ${sec.name}: unknown program type`);
  const relocs = elf.relocations.get(sec.index) ?? [];
  const funcs = elf.symbols
    .filter((s) => s.shndx === sec.index && s.type === STT.FUNC && s.bind !== STB.LOCAL)
    .sort((a, b) => a.value - b.value);
  if (funcs.length === 0) throw new ElfError(`section ${sec.name} has code but no function symbol`);

  return funcs.map((fn) => {
    if (fn.value % 8 || fn.size % 8 || fn.value + fn.size > sec.data.length) {
      throw new ElfError(`function ${fn.name}: bad bounds`);
    }
    const insns = Buffer.from(sec.data.subarray(fn.value, fn.value + fn.size)); // a copy: specs are immutable
    const mapRefs: MapReference[] = [];
    for (const r of relocs) {
      if (r.offset < fn.value || r.offset >= fn.value + fn.size) continue;
      const at = r.offset - fn.value;
      const where = `${fn.name}+${at / 8}`;
      if (r.type === R_BPF.R64_32) throw new ElfError(`${where}: bpf-to-bpf call; mark helpers __always_inline`);
      if (r.type !== R_BPF.R64_64) throw new ElfError(`${where}: unsupported relocation type ${r.type}`);
      if (insns[at] !== LD_IMM64) throw new ElfError(`${where}: map relocation not on an ld_imm64`);
      const target = elf.sections[r.symbol.shndx];
      if (target?.name !== MAPS_SECTION || !maps[r.symbol.name]) {
        throw new ElfError(`${where}: reference to ${r.symbol.name || target?.name || "?"} (global data is not supported)`);
      }
      mapRefs.push({ insn: at / 8, map: r.symbol.name });
    }
    return { name: fn.name, section: sec.name, type: kind[1], attachHint: kind[2], insns, mapRefs };
  });
}
