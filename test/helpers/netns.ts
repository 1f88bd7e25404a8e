// Throwaway network namespaces for integration tests. Every test works inside a "node" namespace
// (standing in for the host) plus container namespaces; nothing touches the machine's own root
// namespace. Names are unique per run; everything is removed in afterEach/afterAll, also on failure.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { stopDaemon } from "./mode";

let counter = 0;
const runTag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;

/** A short unique name (≤ 15 bytes, valid as an interface or netns name). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${runTag}${counter.toString(36)}`.slice(-15).replace(/^[^a-zA-Z]/, "t");
}

export interface Netns {
  name: string;
  path: string;
  /** Run a command inside this namespace (ip netns exec also gives it a matching /sys). */
  run(cmd: string, args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; allowFail?: boolean }): RunResult;
  /** `ip ...` inside the namespace; throws on failure. */
  ip(...args: string[]): string;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function createNetns(prefix = "tn"): Netns {
  const name = uniqueName(prefix);
  execFileSync("ip", ["netns", "add", name]);
  const ns: Netns = {
    name,
    path: `/var/run/netns/${name}`,
    run(cmd, args, opts = {}) {
      const r = spawnSync("ip", ["netns", "exec", name, cmd, ...args], {
        input: opts.input,
        env: opts.env ?? process.env,
        encoding: "utf8",
        maxBuffer: 64 << 20,
      });
      const res = { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
      if (!opts.allowFail && res.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} in ${name} failed (${res.status}): ${res.stderr || res.stdout}`);
      }
      return res;
    },
    ip(...args) {
      return ns.run("ip", args).stdout;
    },
  };
  // Loopback up, like any real namespace a runtime hands over.
  ns.ip("link", "set", "lo", "up");
  return ns;
}

export function deleteNetns(ns: Netns | string): void {
  const name = typeof ns === "string" ? ns : ns.name;
  stopDaemon(`/var/run/netns/${name}`); // a daemon spawned there would keep the namespace alive
  spawnSync("ip", ["netns", "delete", name]);
}

/**
 * A scope that remembers every namespace and path it made and removes them all in cleanup().
 * Use one per test file: `const scope = new NsScope(); afterEach(() => scope.cleanup());`
 */
export class NsScope {
  private namespaces: Netns[] = [];
  private paths: string[] = [];
  private hooks: (() => void)[] = [];

  netns(prefix = "tn"): Netns {
    const ns = createNetns(prefix);
    this.namespaces.push(ns);
    return ns;
  }

  /** A fresh temporary directory removed at cleanup. */
  tmpdir(prefix = "tscni-test-"): string {
    const dir = fs.mkdtempSync(`/tmp/${prefix}`);
    this.paths.push(dir);
    return dir;
  }

  /** Remove this path (file, directory or bpffs pin dir) at cleanup. */
  track(p: string): string {
    this.paths.push(p);
    return p;
  }

  onCleanup(fn: () => void): void {
    this.hooks.push(fn);
  }

  cleanup(): void {
    for (const fn of this.hooks.splice(0).reverse()) {
      try {
        fn();
      } catch {
        /* keep cleaning */
      }
    }
    for (const ns of this.namespaces.splice(0)) deleteNetns(ns);
    // Every path is tried (one still in use, e.g. a mount below it, must not keep the others);
    // the first failure is reported afterwards.
    let first: unknown;
    for (const p of this.paths.splice(0)) {
      try {
        fs.rmSync(p, { recursive: true, force: true });
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}

export const isRoot = () => process.getuid?.() === 0;
