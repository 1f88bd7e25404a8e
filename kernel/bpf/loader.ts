// From a CollectionSpec to live kernel objects: create the maps, patch every map reference
// (ld_imm64 with src_reg = BPF_PSEUDO_MAP_FD, imm = fd), load the programs. If anything fails,
// everything created so far is closed. Map fds stay open in the returned Collection only as long
// as the caller needs them: programs hold their own references to their maps.
import { PSEUDO_MAP_FD } from "./constants";
import { loaderError } from "./errors";
import { BpfMap, BpfProgram } from "./handles";
import type { CollectionSpec, MapSpec, ProgramSpec } from "./spec";
import * as sys from "./syscall";

export interface LoadOptions {
  /** Use these maps instead of creating new ones (e.g. reopened from pins); checked against the spec. */
  maps?: Record<string, BpfMap>;
  /** Only load these programs (default: all). */
  programs?: string[];
  /** Verifier log level on failure (1 or 2). */
  logLevel?: number;
}

export class Collection {
  constructor(
    readonly maps: Record<string, BpfMap>,
    readonly programs: Record<string, BpfProgram>,
    private readonly owned: BpfMap[],
  ) {}

  map(name: string): BpfMap {
    return this.maps[name] ?? fail(`no map ${name}`);
  }

  program(name: string): BpfProgram {
    return this.programs[name] ?? fail(`no program ${name}`);
  }

  /** Close every fd this collection opened (maps passed in LoadOptions.maps are left open). */
  close(): void {
    for (const p of Object.values(this.programs)) p.close();
    for (const m of this.owned) m.close();
  }
}

const fail = (msg: string): never => {
  throw loaderError(msg);
};

export function loadCollection(spec: CollectionSpec, opts: LoadOptions = {}): Collection {
  const maps: Record<string, BpfMap> = {};
  const owned: BpfMap[] = [];
  const programs: Record<string, BpfProgram> = {};
  try {
    for (const m of Object.values(spec.maps)) {
      const given = opts.maps?.[m.name];
      if (given) {
        checkCompatible(m, given);
        maps[m.name] = given;
      } else {
        const map = createMap(m);
        owned.push(map);
        maps[m.name] = map;
      }
    }
    const wanted = opts.programs ?? Object.keys(spec.programs);
    for (const name of wanted) {
      const p = spec.programs[name] ?? fail(`object has no program ${name}`);
      programs[name] = loadProgram(p, spec.license, maps, opts.logLevel);
    }
  } catch (e) {
    for (const p of Object.values(programs)) p.close();
    for (const m of owned) m.close();
    throw e;
  }
  return new Collection(maps, programs, owned);
}

export function createMap(m: MapSpec): BpfMap {
  const fd = sys.mapCreate({
    type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, name: m.name,
  });
  return new BpfMap(fd, { ...m });
}

/** A copy of the program's instructions with every map reference pointing at a live map fd. */
export function relocate(p: ProgramSpec, maps: Record<string, BpfMap>): Buffer {
  const insns = Buffer.from(p.insns);
  for (const ref of p.mapRefs) {
    const map = maps[ref.map] ?? fail(`${p.name}: map ${ref.map} was not created`);
    const off = ref.insn * 8;
    const dst = insns[off + 1]! & 0x0f;
    insns[off + 1] = (PSEUDO_MAP_FD << 4) | dst;
    insns.writeInt32LE(map.fd, off + 4);
    insns.writeInt32LE(0, off + 12); // upper half of the 64-bit immediate
  }
  return insns;
}

function loadProgram(p: ProgramSpec, license: string, maps: Record<string, BpfMap>, logLevel?: number): BpfProgram {
  // expected_attach_type stays 0 (NONE): the kernel accepts that for TCX links and for cls_bpf, so
  // one loaded program can serve either attach path (tcx.ts or the clsact fallback).
  const fd = sys.progLoad({ type: p.type, insns: relocate(p, maps), license, name: p.name, logLevel });
  return new BpfProgram(fd, p.name, p.type);
}

function checkCompatible(want: MapSpec, got: BpfMap): void {
  const i = got.info;
  if (i.type !== want.type || i.keySize !== want.keySize || i.valueSize !== want.valueSize || i.maxEntries !== want.maxEntries) {
    fail(
      `map ${want.name}: existing map (type ${i.type}, key ${i.keySize}, value ${i.valueSize}, max ${i.maxEntries}) ` +
        `does not match the object (type ${want.type}, key ${want.keySize}, value ${want.valueSize}, max ${want.maxEntries})`,
    );
  }
}
