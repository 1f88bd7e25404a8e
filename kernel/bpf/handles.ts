// Typed handles for loaded kernel objects. Each owns one fd and closes it in close(); a pinned
// object lives on after close(). Handles are cheap: reopen from a pin with the static fromPin().
import { MapType } from "./constants";
import { possibleCpus, perCpuSlot } from "./cpus";
import * as sys from "./syscall";

abstract class Handle {
  private closed = false;
  constructor(readonly fd: number) {}

  /** Pin at `path` on a bpffs (the directory must exist). */
  pin(path: string): void {
    sys.objPin(this.fd, path);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.closeFd(this.fd);
  }
}

const PERCPU = new Set<number>([MapType.PERCPU_ARRAY, MapType.PERCPU_HASH]);

export class BpfMap extends Handle {
  constructor(fd: number, readonly info: Omit<sys.MapInfo, "id"> & { id?: number }) {
    super(fd);
  }

  static fromPin(path: string, flags = 0): BpfMap {
    const fd = sys.objGet(path, flags);
    try {
      return new BpfMap(fd, sys.mapInfo(fd));
    } catch (e) {
      sys.closeFd(fd);
      throw e;
    }
  }

  get perCpu(): boolean {
    return PERCPU.has(this.info.type);
  }

  /** Bytes the kernel reads/writes for one value: per-CPU maps hold one 8-aligned slot per possible CPU. */
  get rawValueSize(): number {
    return this.perCpu ? perCpuSlot(this.info.valueSize) * possibleCpus() : this.info.valueSize;
  }

  lookup(key: Buffer | number): Buffer | undefined {
    return sys.mapLookup(this.fd, keyBuf(key), this.rawValueSize);
  }

  /** Per-CPU maps: one Buffer (valueSize bytes) per possible CPU. */
  lookupPerCpu(key: Buffer | number): Buffer[] | undefined {
    const raw = this.lookup(key);
    if (!raw) return undefined;
    if (!this.perCpu) return [raw];
    const slot = perCpuSlot(this.info.valueSize);
    return Array.from({ length: raw.length / slot }, (_, i) => raw.subarray(i * slot, i * slot + this.info.valueSize));
  }

  /** Per-CPU maps accept a single value (copied to every CPU) or the full raw buffer. */
  update(key: Buffer | number, value: Buffer, flags = 0): void {
    let v = value;
    if (this.perCpu && value.length === this.info.valueSize) {
      const slot = perCpuSlot(this.info.valueSize);
      v = Buffer.alloc(this.rawValueSize);
      for (let i = 0; i < possibleCpus(); i++) value.copy(v, i * slot);
    }
    sys.mapUpdate(this.fd, keyBuf(key), v, flags);
  }

  delete(key: Buffer | number): boolean {
    return sys.mapDelete(this.fd, keyBuf(key));
  }

  keys(): Generator<Buffer> {
    return sys.mapKeys(this.fd, this.info.keySize);
  }
}

export class BpfProgram extends Handle {
  constructor(fd: number, readonly name: string, readonly type: number) {
    super(fd);
  }

  static fromPin(path: string): BpfProgram {
    const fd = sys.objGet(path);
    try {
      const info = sys.progInfo(fd);
      return new BpfProgram(fd, info.name, info.type);
    } catch (e) {
      sys.closeFd(fd);
      throw e;
    }
  }

  info(): sys.ProgInfo {
    return sys.progInfo(this.fd);
  }

  private knownId: number | undefined;

  /** The program's id (asked once: a loaded program's id never changes). */
  id(): number {
    this.knownId ??= this.info().id;
    return this.knownId;
  }

  testRun(opts: sys.TestRunOpts): sys.TestRunResult {
    return sys.progTestRun(this.fd, opts);
  }
}

export class BpfLink extends Handle {
  static fromPin(path: string): BpfLink {
    return new BpfLink(sys.objGet(path));
  }

  info(): sys.LinkInfo {
    return sys.linkInfo(this.fd);
  }

  /** Detach now, even if the link is pinned or other fds refer to it. */
  detach(): void {
    sys.linkDetach(this.fd);
  }
}

/** Array-map style u32 keys may be passed as numbers. */
function keyBuf(key: Buffer | number): Buffer {
  if (Buffer.isBuffer(key)) return key;
  const b = Buffer.alloc(4);
  b.writeUInt32LE(key >>> 0);
  return b;
}
