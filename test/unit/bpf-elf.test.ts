// The committed BPF objects, parsed without root: programs, maps, relocations; and the pure helpers
// around them (attr encoding, relocation patching, config layouts).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Attr, Info, encode, objName, readName, readTag, readU32 } from "../../kernel/bpf/attr";
import { AttachType, MapType, ProgType, PSEUDO_MAP_FD } from "../../kernel/bpf/constants";
import { parseCpuList } from "../../kernel/bpf/cpus";
import { ElfError, parseElf, R_BPF } from "../../kernel/bpf/elf";
import { BpfMap } from "../../kernel/bpf/handles";
import { relocate } from "../../kernel/bpf/loader";
import { OBJECTS, objectBytes } from "../../kernel/bpf/objects";
import { kernelAtLeast, kernelVersion, trivialProgram } from "../../kernel/bpf/probe";
import { decodeShapeConfig, encodeShapeConfig, sumShapeStats } from "../../kernel/bpf/shaping";
import { tcHandle } from "../../kernel/netlink/tc-handle";
import { collectionSpec, MAP_DEF_SIZE } from "../../kernel/bpf/spec";

const root = path.resolve(__dirname, "../..");

describe("BPF objects", () => {
  for (const name of OBJECTS) {
    describe(name, () => {
      const bytes = objectBytes(name);
      const spec = collectionSpec(bytes);

      it("has an ingress and an egress program of type SCHED_CLS", () => {
        expect(Object.keys(spec.programs).sort()).toEqual([`${name}_egress`, `${name}_ingress`]);
        const ing = spec.programs[`${name}_ingress`]!;
        const eg = spec.programs[`${name}_egress`]!;
        expect(ing.section).toBe("tcx/ingress");
        expect(eg.section).toBe("tcx/egress");
        expect(ing.attachHint).toBe(AttachType.TCX_INGRESS);
        expect(eg.attachHint).toBe(AttachType.TCX_EGRESS);
        for (const p of [ing, eg]) {
          expect(p.type).toBe(ProgType.SCHED_CLS);
          expect(p.insns.length % 8).toBe(0);
          expect(p.insns.length).toBeGreaterThan(8 * 10);
          // At least one exit instruction (not necessarily last: clang may place blocks after it).
          const opcodes = Array.from({ length: p.insns.length / 8 }, (_, i) => p.insns[i * 8]);
          expect(opcodes).toContain(0x95);
        }
      });

      it("defines the shared config and per-CPU stats maps", () => {
        expect(spec.maps.cfg).toEqual({ name: "cfg", type: MapType.ARRAY, keySize: 4, valueSize: 48, maxEntries: 2, flags: 0 });
        expect(spec.maps.stats).toEqual({ name: "stats", type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 32, maxEntries: 2, flags: 0 });
        // classify's virtual queue for ECN marks, police's bucket, edt's clock.
        expect(spec.maps.state).toEqual({ name: "state", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      });

      it("finds every map reference on an ld_imm64", () => {
        for (const p of Object.values(spec.programs)) {
          const maps = new Set(p.mapRefs.map((r) => r.map));
          expect(maps).toEqual(new Set(Object.keys(spec.maps)));
          for (const r of p.mapRefs) expect(p.insns[r.insn * 8]).toBe(0x18);
        }
      });

      it("matches the raw relocation entries", () => {
        const elf = parseElf(bytes);
        const sec = elf.section("tcx/ingress")!;
        const relocs = elf.relocations.get(sec.index)!;
        expect(relocs.length).toBe(spec.programs[`${name}_ingress`]!.mapRefs.length);
        for (const r of relocs) {
          expect(r.type).toBe(R_BPF.R64_64);
          expect(elf.sections[r.symbol.shndx]!.name).toBe("maps");
          expect(r.symbol.size).toBe(MAP_DEF_SIZE);
        }
      });

      it("carries a license and no global data or bpf-to-bpf calls", () => {
        expect(spec.license).toBe("Apache-2.0");
        const elf = parseElf(bytes);
        for (const n of [".data", ".rodata", ".bss"]) expect(elf.section(n)?.size ?? 0).toBe(0);
        expect(elf.section(".text")?.size ?? 0).toBe(0);
      });
    });
  }

  it("parses deterministically", () => {
    const a = collectionSpec(objectBytes("police"));
    const b = collectionSpec(objectBytes("police"));
    expect(a).toEqual(b);
  });

  it("rejects what is not a BPF relocatable object", () => {
    expect(() => parseElf(Buffer.from("hello"))).toThrow(ElfError);
    expect(() => parseElf(fs.readFileSync(process.execPath).subarray(0, 4096))).toThrow(/not a relocatable|EM_BPF|ELF/);
    const bad = Buffer.from(objectBytes("classify"));
    bad[18] = 62; // EM_X86_64
    expect(() => parseElf(bad)).toThrow(/EM_BPF/);
  });
});

describe("relocate", () => {
  it("patches ld_imm64 with the map fd and BPF_PSEUDO_MAP_FD, leaving the spec untouched", () => {
    const spec = collectionSpec(objectBytes("classify"));
    const p = spec.programs.classify_ingress!;
    const before = Buffer.from(p.insns);
    const fake = (fd: number, m: string) => new BpfMap(fd, { ...spec.maps[m]!, flags: 0 });
    const out = relocate(p, { cfg: fake(41, "cfg"), stats: fake(42, "stats"), state: fake(43, "state") });
    for (const r of p.mapRefs) {
      const off = r.insn * 8;
      expect(out[off + 1]! >> 4).toBe(PSEUDO_MAP_FD);
      expect(out[off + 1]! & 0xf).toBe(p.insns[off + 1]! & 0xf);
      expect(out.readInt32LE(off + 4)).toBe({ cfg: 41, stats: 42, state: 43 }[r.map]);
      expect(out.readInt32LE(off + 12)).toBe(0);
    }
    expect(p.insns.equals(before)).toBe(true);
  });
});

describe("bpf_attr layouts", () => {
  it("puts LINK_CREATE tcx fields at their UAPI offsets", () => {
    const b = encode(Attr.LINK_CREATE, { prog_fd: 7, target_ifindex: 3, attach_type: 47, flags: 1 << 4, relative_fd: 9, expected_revision: 5n });
    expect(b.length).toBe(64);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12), b.readUInt32LE(16)]).toEqual([7, 3, 47, 16, 9]);
    expect(b.readBigUInt64LE(24)).toBe(5n);
  });

  it("encodes MAP_CREATE with a sanitised name", () => {
    const b = encode(Attr.MAP_CREATE, { map_type: 2, key_size: 4, value_size: 48, max_entries: 2, map_name: "a-very/long name!" });
    expect([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)]).toEqual([2, 4, 48, 2]);
    expect(b.subarray(28, 44).toString("latin1").replace(/\0+$/, "")).toBe(objName("a-very/long name!"));
    expect(objName("a-very/long name!")).toBe("a_very_long_nam");
  });

  it("rejects unknown fields", () => {
    expect(() => encode(Attr.LINK_DETACH, { nope: 1 } as never)).toThrow(/unknown field/);
  });
});

describe("bpf_*_info layouts", () => {
  it("reads struct bpf_prog_info at its UAPI offsets (type 0, id 4, tag 8, nr_map_ids 52, map_ids 56, name 64)", () => {
    const b = Buffer.alloc(Info.PROG.size);
    b.writeUInt32LE(3, 0);
    b.writeUInt32LE(77, 4);
    Buffer.from("0123456789abcdef", "hex").copy(b, 8);
    b.writeUInt32LE(2, 52);
    Buffer.from("classify_egress\0", "latin1").copy(b, 64);
    expect([readU32(Info.PROG, b, "type"), readU32(Info.PROG, b, "id"), readTag(Info.PROG, b, "tag"), readU32(Info.PROG, b, "nr_map_ids"), readName(Info.PROG, b, "name")])
      .toEqual([3, 77, "0123456789abcdef", 2, "classify_egress"]);
    // What progInfo hands the kernel: how many map ids fit, and where.
    const ids = Buffer.alloc(8);
    const asked = encode(Info.PROG, { nr_map_ids: 2, map_ids: ids });
    expect([asked.length, asked.readUInt32LE(52), asked.readBigUInt64LE(56) !== 0n]).toEqual([224, 2, true]);
    expect(() => encode(Info.PROG, { tag: "x" })).toThrow(/read-only/);
  });

  it("reads struct bpf_map_info and the TCX part of struct bpf_link_info at their UAPI offsets", () => {
    const m = Buffer.alloc(Info.MAP.size);
    [2, 9, 4, 48, 2, 0].forEach((v, i) => m.writeUInt32LE(v, i * 4));
    Buffer.from("cfg", "latin1").copy(m, 24);
    expect(["type", "id", "key_size", "value_size", "max_entries", "map_flags"].map((f) => readU32(Info.MAP, m, f as "id"))).toEqual([2, 9, 4, 48, 2, 0]);
    expect([Info.MAP.size, readName(Info.MAP, m, "name")]).toEqual([88, "cfg"]);
    const l = Buffer.alloc(Info.LINK.size);
    [11, 5, 77, 0, 3, 47].forEach((v, i) => l.writeUInt32LE(v, i * 4));
    expect(["type", "id", "prog_id", "tcx_ifindex", "tcx_attach_type"].map((f) => readU32(Info.LINK, l, f as "id"))).toEqual([11, 5, 77, 3, 47]);
  });
});

describe("shaping layouts", () => {
  it("round-trips every field of the config struct (48 bytes, shaping.h order)", () => {
    const c = {
      rate: 12_500_000n, burst: 65536n, markAbove: 32768n, horizonNs: 2_000_000_000n, classid: tcHandle(1, 0x2a), redirectIfindex: 9,
      flags: ((3 << 16) | 512) >>> 0, mirred: 1,
    };
    const b = encodeShapeConfig(c);
    expect(b.length).toBe(48);
    expect([b.readBigUInt64LE(0), b.readBigUInt64LE(8), b.readBigUInt64LE(16), b.readBigUInt64LE(24)]).toEqual([12_500_000n, 65536n, 32768n, 2_000_000_000n]);
    expect([b.readUInt32LE(32), b.readUInt32LE(36), b.readUInt32LE(40), b.readUInt32LE(44)]).toEqual([0x1002a, 9, 0x30200, 1]);
    expect(decodeShapeConfig(b)).toEqual(c);
    expect(decodeShapeConfig(encodeShapeConfig({}))).toEqual({ rate: 0n, burst: 0n, markAbove: 0n, horizonNs: 0n, classid: 0, redirectIfindex: 0, flags: 0, mirred: 0 });
  });

  it("sums per-CPU stats", () => {
    const slot = (n: number) => {
      const b = Buffer.alloc(32);
      [n, 1, 2, 3].forEach((v, i) => b.writeBigUInt64LE(BigInt(v), i * 8));
      return b;
    };
    expect(sumShapeStats([slot(10), slot(5)])).toEqual({ bytes: 15n, packets: 2n, drops: 4n, marks: 6n });
  });
});

describe("small helpers", () => {
  it("parses CPU lists", () => {
    expect(parseCpuList("0-1\n")).toBe(2);
    expect(parseCpuList("0,2-5")).toBe(5);
    expect(parseCpuList("0")).toBe(1);
  });

  it("parses kernel releases", () => {
    expect(kernelVersion("6.18.44-fc-v669")).toEqual([6, 18, 44]);
    expect(kernelVersion("6.1.0-18-amd64")).toEqual([6, 1, 0]);
    expect(kernelAtLeast([6, 6], "6.6.0")).toBe(true);
    expect(kernelAtLeast([6, 6], "6.1.0-18-amd64")).toBe(false);
  });

  it("builds the trivial probe program", () => {
    expect(trivialProgram().toString("hex")).toBe("b7000000ffffffff9500000000000000");
  });
});

// The committed objects must be what the sources compile to (pinned clang 14). Runs where clang 14
// is installed (CI installs it); elsewhere the check is skipped, not faked.
const clang14 = (() => {
  const r = spawnSync("clang", ["--version"], { encoding: "utf8" });
  return r.status === 0 && /clang version 14\./.test(r.stdout);
})();

describe.skipIf(!clang14)("bpf/build.mjs --check", () => {
  it("committed objects match their sources", () => {
    const out = execFileSync("node", [path.join(root, "bpf/build.mjs"), "--check"], { encoding: "utf8" });
    expect(out).toMatch(/objects match/);
  });
});
