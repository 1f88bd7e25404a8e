// A private containerd for tests and benchmarks: its own root, state, sockets, runc root and config,
// started inside a node network namespace (`nsenter --net`, host mount namespace: the plugins it
// execs may spawn the tscni daemon, which serves only callers there). Its CRI plugin execs the CNI
// plugins from `binDir` with the conflist in `confDir`; pod network namespaces are bind-mounted
// under its state directory. stop() removes every sandbox, stops containerd, and ends whatever it
// left running (shims, pause processes) by pid; cleanupCgroups() removes the pods' cgroup parent.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CriClient } from "./client";

export interface ContainerdOptions {
  /** Path of the node network namespace, e.g. /var/run/netns/x. */
  nodeNetns: string;
  /** Everything containerd writes goes below this directory. */
  dir: string;
  binDir: string;
  confDir: string;
  sandboxImage: string;
  /** The CRI plugin's conf_template: rendered into confDir when kubelet (the test) sends pod subnets. */
  confTemplate?: string;
  /** Extra environment (containerd passes its environment on to the plugins). */
  env?: Record<string, string>;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const haveContainerd = () => ["containerd", "ctr", "containerd-shim-runc-v2", "runc"].every((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);

function config(o: ContainerdOptions, snapshotter: string): string {
  const d = o.dir;
  return `version = 2
root = "${d}/root"
state = "${d}/state"
# Plugins that would write outside our directories or need what this machine lacks.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${d}/containerd.sock"
[ttrpc]
  address = "${d}/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${o.sandboxImage}"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${o.binDir}"
    conf_dir = "${o.confDir}"
    max_conf_num = 1
${o.confTemplate ? `    conf_template = "${o.confTemplate}"\n` : ""}  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${d}/runc"
        SystemdCgroup = false
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pids of processes whose command line mentions `needle` (containerd, its shims). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, "latin1").split("\0").includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

const childrenOf = (pid: number): number[] => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

export class Containerd {
  readonly socket: string;
  readonly cri: CriClient;
  readonly snapshotter: string;
  private constructor(readonly o: ContainerdOptions, private readonly proc: ChildProcess, snapshotter: string) {
    this.socket = path.join(o.dir, "containerd.sock");
    this.cri = new CriClient(this.socket);
    this.snapshotter = snapshotter;
  }

  get log(): string {
    try {
      return fs.readFileSync(path.join(this.o.dir, "containerd.log"), "utf8");
    } catch {
      return "";
    }
  }

  static async start(o: ContainerdOptions): Promise<Containerd> {
    fs.mkdirSync(o.dir, { recursive: true });
    // overlayfs where the directory's filesystem carries it (ext4, xfs); else plain copies.
    const snapshotter = spawnSync("sh", ["-c", "grep -qw overlay /proc/filesystems || modprobe overlay"]).status === 0 ? "overlayfs" : "native";
    const cfg = path.join(o.dir, "config.toml");
    fs.writeFileSync(cfg, config(o, snapshotter));
    const log = fs.openSync(path.join(o.dir, "containerd.log"), "a");
    const env = { PATH, ...o.env };
    const proc = spawn("nsenter", [`--net=${o.nodeNetns}`, "--", "containerd", "--config", cfg, "--log-level", "info"], { stdio: ["ignore", log, log], env });
    fs.closeSync(log);
    const c = new Containerd(o, proc, snapshotter);
    for (let i = 0; i < 400; i++) {
      if (fs.existsSync(c.socket)) {
        try {
          await c.cri.version();
          return c;
        } catch {
          /* CRI not yet up */
        }
      }
      if (proc.exitCode !== null) break;
      await sleep(50);
    }
    await c.stop();
    throw new Error(`containerd did not come up:\n${c.log.slice(-3000)}`);
  }

  ctr(args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("nsenter", [`--net=${this.o.nodeNetns}`, "--", "ctr", "--address", this.socket, ...args], { encoding: "utf8", env: { PATH }, timeout: 300_000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  importImage(archive: string, namespace = "k8s.io"): void {
    const r = this.ctr(["-n", namespace, "images", "import", "--snapshotter", this.snapshotter, archive]);
    if (r.status !== 0) throw new Error(`ctr images import ${archive}: ${r.stderr}`);
  }

  /** Wait until the CRI reports both runtime and network ready (a conflist loaded). */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    let last = "";
    for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
      const conds = await this.cri.conditions();
      if (conds.every((c) => c.status)) return;
      last = JSON.stringify(conds);
      await sleep(100);
    }
    throw new Error(`containerd not ready: ${last}`);
  }

  /** Remove all sandboxes, stop containerd, end what it left; idempotent. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && fs.existsSync(this.socket)) {
      try {
        const pods = await this.cri.listPodSandbox();
        await Promise.all(pods.map(async (p) => {
          await this.cri.stopPodSandbox(p.id).catch(() => undefined);
          await this.cri.removePodSandbox(p.id).catch(() => undefined);
        }));
      } catch {
        /* containerd unusable: kill below */
      }
    }
    this.cri.close();
    // Containers started with `ctr run -d` (not CRI's): end and delete them while containerd can.
    if (this.proc.exitCode === null && fs.existsSync(this.socket)) {
      for (const id of this.ctr(["-n", "k8s.io", "task", "ls", "-q"]).stdout.split("\n").filter(Boolean)) {
        this.ctr(["-n", "k8s.io", "task", "delete", "-f", id]);
        this.ctr(["-n", "k8s.io", "containers", "delete", id]);
      }
    }
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      for (let i = 0; i < 100 && this.proc.exitCode === null; i++) await sleep(50);
      if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    }
    // Shims left behind (a test that failed midway): their pause children first, then the shims.
    for (const shim of processesMentioning(this.socket)) {
      for (const child of childrenOf(shim)) killPid(child);
      killPid(shim);
    }
    for (const m of mountsBelow(this.o.dir)) spawnSync("umount", ["-l", m]);
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

/** Mount points at or below `dir`, deepest first. */
export function mountsBelow(dir: string): string[] {
  const lines = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const points = lines.map((l) => l.split(" ")[4]).filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Remove the pods' cgroup parent `name` from every hierarchy (cgroup v1 and v2), deepest first. */
export function cleanupCgroups(name: string): string[] {
  const left: string[] = [];
  const roots = fs.existsSync("/sys/fs/cgroup/cgroup.controllers") ? ["/sys/fs/cgroup"] : fs.readdirSync("/sys/fs/cgroup").map((h) => `/sys/fs/cgroup/${h}`);
  for (const root of roots) {
    const top = path.join(root, name);
    if (!fs.existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    for (const d of dirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        left.push(d);
      }
    }
  }
  return left;
}
