// Build the tscni OCI image offline from dist/tscni: `npx tsx deploy/build-image.ts [out.tar]`
// (default build/tscni-image.oci.tar), then load it where the cluster can pull it from
// (`ctr -n k8s.io images import`, `podman load`, `skopeo copy oci-archive:... docker://registry/...`).
//
// Its default command is the install-cni step of deploy/daemonset.yaml: the plugins into
// /host/opt/cni/bin and the conflist into /host/etc/cni/net.d, the pod subnet from POD_CIDR or,
// with NODE_NAME, from the Node (docs/multi-node.md).
// `tscni daemon` is the same image with the argument `daemon`.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { IMAGE_BIN, imageContents } from "./image-contents";
import { type Built, writeImage } from "./oci-image";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const IMAGE_CMD = ["install", "--dir", "/host/opt/cni/bin", "--conflist-dir", "/host/etc/cni/net.d"];

export function imageName(): string {
  const version = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
  return `tscni.local/tscni:${version}`;
}

export function buildTscniImage(out: string, o: { executable?: string; name?: string } = {}): Built & { name: string; iptables: boolean } {
  const executable = o.executable ?? path.join(REPO, "dist/tscni");
  if (!fs.existsSync(executable)) throw new Error(`${executable} missing: run npm run build first`);
  const name = o.name ?? imageName();
  const { entries, iptables } = imageContents(executable);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const built = writeImage(out, {
    name,
    entries,
    entrypoint: [IMAGE_BIN],
    cmd: IMAGE_CMD,
    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    labels: { "org.opencontainers.image.title": "tscni", "org.opencontainers.image.description": "CNI plugins bridge, host-local, ebpf-bandwidth, loopback in one executable; installer and daemon" },
  });
  return { ...built, name, iptables };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.resolve(process.argv[2] ?? path.join(REPO, "build/tscni-image.oci.tar"));
  const r = buildTscniImage(out);
  process.stdout.write(`wrote ${out} (${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB): ${r.name} ${r.manifestDigest}${r.iptables ? "" : " (no iptables found: ipMasq needs the host's tools)"}\n`);
}
