// An OCI image archive written from scratch, offline: one uncompressed layer (a ustar stream built
// here), its config and manifest as content-addressed blobs, an index naming the image, all in one
// tar that `ctr images import` (and `podman load`, `skopeo copy oci-archive:`) accept. Used for the
// test pause image and for the tscni install image (deploy/build-image.ts).
import { createHash } from "node:crypto";
import * as fs from "node:fs";

export type Entry =
  | { path: string; type: "dir"; mode?: number }
  | { path: string; type: "file"; data: Buffer; mode?: number }
  | { path: string; type: "symlink"; target: string };

export interface ImageSpec {
  /** Full reference, e.g. "tscni.local/tscni:0.1.0". */
  name: string;
  entries: Entry[];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  labels?: Record<string, string>;
  /** Fixed for reproducible digests. */
  created?: string;
}

const BLOCK = 512;

function header(name: string, o: { size: number; mode: number; type: string; linkname?: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a "/" into prefix (≤ 155) and name (≤ 100).
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`path too long for ustar: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  const put = (s: string, off: number, len: number) => h.write(s, off, len, "utf8");
  const oct = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, "0"), off, len - 1);
  put(base, 0, 100);
  oct(o.mode, 100, 8);
  oct(0, 108, 8); // uid
  oct(0, 116, 8); // gid
  oct(o.size, 124, 12);
  oct(0, 136, 12); // mtime: fixed, for reproducible layers
  h.fill(" ", 148, 156);
  put(o.type, 156, 1);
  if (o.linkname) put(o.linkname, 157, 100);
  put("ustar\u000000", 257, 8);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8);
  return h;
}

const pad = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

/** A tar stream of `entries` (parent directories are not implied: list them). */
export function tar(entries: readonly { name: string; type: "dir" | "file" | "symlink"; data?: Buffer; mode?: number; target?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === "dir") parts.push(header(`${e.name.replace(/\/$/, "")}/`, { size: 0, mode: e.mode ?? 0o755, type: "5" }));
    else if (e.type === "symlink") parts.push(header(e.name, { size: 0, mode: 0o777, type: "2", linkname: e.target! }));
    else {
      const data = e.data ?? Buffer.alloc(0);
      parts.push(header(e.name, { size: data.length, mode: e.mode ?? 0o644, type: "0" }), data, pad(data.length));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Every directory above the entries, so the layer unpacks with sane modes. */
function withParents(entries: readonly Entry[]): Entry[] {
  const dirs = new Set<string>();
  for (const e of entries) {
    const parts = e.path.replace(/^\/+/, "").split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const explicit = new Set(entries.filter((e) => e.type === "dir").map((e) => e.path.replace(/^\/+|\/+$/g, "")));
  const implied = [...dirs].filter((d) => !explicit.has(d)).sort().map((d): Entry => ({ path: d, type: "dir" }));
  return [...implied, ...entries];
}

export interface Built {
  archive: Buffer;
  /** sha256:… of the manifest: what the runtime reports as the image's digest. */
  manifestDigest: string;
  configDigest: string;
}

export function buildImage(spec: ImageSpec): Built {
  const layer = tar(withParents(spec.entries).map((e) => ({ ...e, name: e.path.replace(/^\/+/, "") })));
  const layerDigest = `sha256:${sha256(layer)}`;
  const config = Buffer.from(
    JSON.stringify({
      created: spec.created ?? "1970-01-01T00:00:00Z",
      architecture: ociArch(process.arch),
      os: "linux",
      config: {
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        Env: spec.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        ...(spec.labels ? { Labels: spec.labels } : {}),
      },
      rootfs: { type: "layers", diff_ids: [layerDigest] },
      history: [{ created: spec.created ?? "1970-01-01T00:00:00Z", created_by: "tscni deploy/oci-image.ts" }],
    }),
  );
  const configDigest = `sha256:${sha256(config)}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = `sha256:${sha256(manifest)}`;
  const tag = spec.name.slice(spec.name.lastIndexOf(":") + 1);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: manifest.length,
          platform: { architecture: ociArch(process.arch), os: "linux" },
          // containerd takes the full name from the first, the OCI tag from the second.
          annotations: { "io.containerd.image.name": spec.name, "org.opencontainers.image.ref.name": tag },
        },
      ],
    }),
  );
  const blob = (digest: string, data: Buffer) => ({ name: `blobs/sha256/${digest.slice(7)}`, type: "file" as const, data });
  const archive = tar([
    { name: "oci-layout", type: "file", data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: "index.json", type: "file", data: index },
    { name: "blobs", type: "dir" },
    { name: "blobs/sha256", type: "dir" },
    blob(layerDigest, layer),
    blob(configDigest, config),
    blob(manifestDigest, manifest),
  ]);
  return { archive, manifestDigest, configDigest };
}

export function ociArch(nodeArch: string): string {
  return ({ x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export function writeImage(file: string, spec: ImageSpec): Built {
  const built = buildImage(spec);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, built.archive);
  fs.renameSync(tmp, file);
  return built;
}
