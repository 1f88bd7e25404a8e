// Optional debug log: never on stdout/stderr (runtimes parse those). Enabled by the environment
// (TSCNI_DEBUG_LOG=/path) or the config ("debugLog": "/path"). Best effort: logging never fails a call.
import * as fs from "node:fs";

let target: string | undefined;

export function setLogFile(file: string | undefined): void {
  if (file) target = file;
}

/**
 * Start a call's logging at `file` (or none); the returned function restores what was before. A
 * resident daemon runs many calls in one process: one call's log file must not carry over.
 */
export function beginLog(file: string | undefined): () => void {
  const before = target;
  target = file || undefined;
  return () => {
    target = before;
  };
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
