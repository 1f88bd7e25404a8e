// Images for the CRI tests, built offline: the pause image (test/cri/pause.c, static) and the tscni
// install image (deploy/build-image.ts). Each is an OCI archive for `ctr images import`.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeImage } from "../../deploy/oci-image";

// Not __dirname: scripts run these modules as ES modules (tsx), tests through vitest.
const HERE = path.dirname(fileURLToPath(import.meta.url));

export const PAUSE_IMAGE = "tscni.test/pause:1";

/** Compile pause.c statically and pack it as an image; returns the archive's path. */
export function buildPauseImage(outDir: string): string {
  const bin = path.join(outDir, "pause");
  execFileSync("gcc", ["-static", "-Os", "-s", "-o", bin, path.join(HERE, "pause.c")]);
  const archive = path.join(outDir, "pause.oci.tar");
  writeImage(archive, { name: PAUSE_IMAGE, entries: [{ path: "pause", type: "file", data: fs.readFileSync(bin), mode: 0o755 }], entrypoint: ["/pause"] });
  return archive;
}
