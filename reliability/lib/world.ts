// A throwaway "world" for reliability runs: a node namespace standing in for the host, container
// namespaces, a private bpffs for pins, a tmp root holding the IPAM dataDir (nested, so a path
// that escapes it by "../.." still lands inside the root we snapshot), and the plugin bin dir.
// Never touches the root network namespace; dispose() removes everything, also after failures.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createNetns, deleteNetns, type Netns, uniqueName } from "../../test/helpers/netns";
import { type Snapshot, type SnapshotScope, diffSnapshots, snapshot } from "./snapshot";

export interface World {
  id: number;
  node: Netns;
  root: string;
  dataDir: string;
  pinRoot: string;
  bpffs: string;
  binDir: string;
  bridge: string;
  network: string;
  subnet: string;
  containers: Netns[];
  regularFile: string;
  directory: string;
  scope(): SnapshotScope;
  snapshot(): Snapshot;
  /** A snapshot once the kernel stopped changing on its own (IPv6 DAD finishing on a new bridge). */
  settled(): Promise<Snapshot>;
  container(): Netns;
  dropContainer(ns: Netns): void;
  dispose(): void;
}

let worlds = 0;
let binDir: string | undefined;

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
export const DIST_BIN = path.join(REPO, "dist/tscni");

/**
 * A private CNI bin dir with dist/tscni hard-linked under the three plugin names (the same inode,
 * so bridge runs host-local in-process, as installed). Made once per process. (Not
 * test/helpers/plugin.ts: that module uses __dirname, which the ESM scripts here do not have.)
 */
export function relBinDir(): string {
  if (binDir) return binDir;
  if (!fs.existsSync(DIST_BIN)) throw new Error("run `npm run build` first: reliability runs drive dist/tscni");
  // Named by pid: a run killed before its exit handler (or a vitest fork ended without one) leaves
  // its dir behind; the next run removes those of dead processes.
  for (const e of fs.readdirSync("/tmp")) {
    const m = /^tscni-relbin-(\d+)$/.exec(e);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      fs.rmSync(path.join("/tmp", e), { recursive: true, force: true });
    }
  }
  const dir = `/tmp/tscni-relbin-${process.pid}`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o755 });
  for (const n of ["bridge", "host-local", "ebpf-bandwidth"]) fs.linkSync(DIST_BIN, path.join(dir, n));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  binDir = dir;
  return dir;
}

export function createWorld(o: { subnetIndex?: number; network?: string; bridge?: string } = {}): World {
  worlds += 1;
  const id = worlds;
  const node = createNetns("rln");
  const root = fs.mkdtempSync("/tmp/tscni-rel-");
  const dataDir = path.join(root, "a", "b", "data");
  fs.mkdirSync(dataDir, { recursive: true });
  const bpffs = path.join(root, "bpffs");
  fs.mkdirSync(bpffs);
  spawnSync("mount", ["-t", "bpf", "bpf", bpffs]);
  // The plugin's pin root is made on first use and kept (like /var/lib/cni/networks): part of a warm node.
  const pinRoot = path.join(bpffs, "x", "y");
  fs.mkdirSync(pinRoot, { recursive: true });
  const regularFile = path.join(root, "regular-file");
  fs.writeFileSync(regularFile, "not a namespace\n");
  const directory = path.join(root, "a-directory");
  fs.mkdirSync(directory);
  const subnetIndex = o.subnetIndex ?? (100 + (process.pid + id) % 100);
  const containers: Netns[] = [];
  const w: World = {
    id, node, root, dataDir, pinRoot, bpffs, regularFile, directory, containers,
    binDir: relBinDir(),
    bridge: o.bridge ?? uniqueName("rlbr"),
    network: o.network ?? uniqueName("rlnet"),
    subnet: `10.${subnetIndex}.0.0/24`,
    scope: () => ({ node: node.name, containers: containers.map((c) => c.name), fileRoots: [root], pinRoots: [bpffs] }),
    snapshot: () => snapshot(w.scope()),
    async settled() {
      let prev = w.snapshot();
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 700));
        const cur = w.snapshot();
        if (diffSnapshots(prev, cur).length === 0) return cur;
        prev = cur;
      }
      return prev;
    },
    container() {
      const ns = createNetns("rlc");
      containers.push(ns);
      return ns;
    },
    dropContainer(ns) {
      deleteNetns(ns);
      const i = containers.indexOf(ns);
      if (i >= 0) containers.splice(i, 1);
    },
    dispose() {
      for (const c of containers.splice(0)) deleteNetns(c);
      deleteNetns(node);
      spawnSync("umount", ["-l", bpffs]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return w;
}

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a plugin in the world's node namespace, asynchronously (so several worlds run in parallel). */
export function runPlugin(w: World, plugin: string, env: Record<string, string>, stdin: string | Buffer, wrap: string[] = [], killAfterMs?: number): Promise<ProcResult> {
  const bin = path.join(w.binDir, plugin);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", w.node.name, ...wrap, bin], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin.on("error", () => {}); // the plugin may stop reading (oversized stdin): EPIPE is expected
    // `ip netns exec` execs the plugin in place: killing the child kills the plugin itself.
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs ?? 120_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(stdin);
  });
}

/** The environment a runtime passes, for one attachment in this world. */
export function cniEnv(w: World, command: string, a: { containerID?: string; netns?: string; ifname?: string; args?: string } = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: a.containerID ?? "ctr-reliability",
    CNI_NETNS: a.netns ?? "",
    CNI_IFNAME: a.ifname ?? "eth0",
    CNI_PATH: w.binDir,
  };
  if (a.args) env.CNI_ARGS = a.args;
  for (const k of Object.keys(env)) if (env[k] === "") delete env[k];
  return env;
}

/** Bounded parallel map (the machine is shared: keep the load predictable). */
export async function pool<T, R>(items: readonly T[], n: number, fn: (item: T, worker: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async (_, worker) => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        out[i] = await fn(items[i]!, worker);
      }
    }),
  );
  return out;
}
