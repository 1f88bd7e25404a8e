// Optional debug log: never on stdout/stderr (runtimes parse those). Enabled by the environment
// (TSCNI_DEBUG_LOG=/path) or the config ("debugLog": "/path"). Best effort: logging never fails a call.
import * as fs from "node:fs";

let target: string | undefined;

export function setLogFile(file: string | undefined): void {
  if (file) target = file;
}

export function debugLog(msg: string, extra?: unknown): void {
  if (!target) return;
  try {
    const line = `${new Date().toISOString()} [${process.pid}] ${msg}${extra === undefined ? "" : " " + (extra instanceof Error ? extra.stack : JSON.stringify(extra))}\n`;
    fs.appendFileSync(target, line, { mode: 0o600 });
  } catch {
    /* ignore */
  }
}
