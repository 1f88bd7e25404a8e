// `tscni install`: put the executable into a CNI bin directory under the three plugin names.
// One file, hard-linked under each name (copies when hard links are impossible), each replaced
// atomically by rename so a runtime exec'ing the old binary mid-install never sees a partial file.
import * as fs from "node:fs";
import * as path from "node:path";
import { PLUGIN_NAMES } from "./registry";

export interface InstallResult {
  dir: string;
  installed: string[];
  linked: boolean;
}

export function install(source: string, dir: string, names: readonly string[] = PLUGIN_NAMES): InstallResult {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const first = path.join(dir, names[0]!);
  const tmp = path.join(dir, `.tscni-install-${process.pid}`);
  fs.copyFileSync(source, tmp);
  fs.chmodSync(tmp, 0o755);
  const installed: string[] = [];
  let linked = true;
  try {
    for (const name of names.slice(1)) {
      const dest = path.join(dir, name);
      const tmpLink = `${dest}.tscni-${process.pid}`;
      try {
        fs.linkSync(tmp, tmpLink);
      } catch {
        linked = false;
        fs.copyFileSync(tmp, tmpLink);
        fs.chmodSync(tmpLink, 0o755);
      }
      fs.renameSync(tmpLink, dest);
      installed.push(dest);
    }
    fs.renameSync(tmp, first);
    installed.unshift(first);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { dir, installed, linked };
}
