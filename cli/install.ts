// `tscni install`: lay out a CNI bin directory. The default layout is
//
//   <dir>/tscni                                  this executable (the daemon, the fallback, the CLI)
//   <dir>/bridge, host-local, ebpf-bandwidth,    one small static shim, hard-linked under each name
//         loopback
//
// A runtime execs a shim; the shim hands the call to the resident daemon, or execs <dir>/tscni
// (cli/daemon, native/shim). `--no-shim` installs this executable itself under each name instead
// (every call then starts Node). Every file is replaced atomically by rename, so a runtime exec'ing
// a plugin mid-install never sees a partial file; `tscni` goes first, so a new shim never finds an
// old executable (an old shim with a new executable is fine: it falls back to exec).
import * as fs from "node:fs";
import * as path from "node:path";
import { seaAsset } from "../kernel/sea";
import { PLUGIN_NAMES } from "./registry";

export const EXECUTABLE_NAME = "tscni";

export interface InstallResult {
  dir: string;
  installed: string[];
  linked: boolean;
}

export interface InstallOptions {
  /** The shim's bytes (from the executable's assets); undefined: install the executable itself under each name. */
  shim?: Buffer;
  names?: readonly string[];
}

export function install(source: string, dir: string, o: InstallOptions = {}): InstallResult {
  const names = o.names ?? PLUGIN_NAMES;
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const installed: string[] = [];
  const tmp = path.join(dir, `.tscni-install-${process.pid}`);
  let linked = true;
  try {
    if (o.shim) {
      fs.copyFileSync(source, tmp);
      fs.chmodSync(tmp, 0o755);
      const exe = path.join(dir, EXECUTABLE_NAME);
      fs.renameSync(tmp, exe);
      installed.push(exe);
      fs.writeFileSync(tmp, o.shim, { mode: 0o755 });
    } else {
      fs.copyFileSync(source, tmp);
      fs.chmodSync(tmp, 0o755);
    }
    for (const name of names) {
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
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { dir, installed, linked };
}

/** The shim carried inside the single executable; undefined when running from source. */
export const embeddedShim = () => seaAsset("tscni-shim");
