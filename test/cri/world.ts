// One CRI "node" for tests and benchmarks: a throwaway node network namespace, a private
// containerd in it, the pause image imported, and the conflist `tscni install --conflist-dir`
// writes (cli/conflist.ts) pointing at our plugins or, with `bandwidth` for `ebpf-bandwidth`, at
// the Go reference plugins. Plus what a test needs around pods: their network namespaces, ping,
// iperf3, and an inventory of what is left on the node afterwards.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildConflist } from "../../cli/conflist";
import { isSysError, native } from "../../kernel/native";
import { networkPath } from "../../plugins/ebpf-bandwidth/names";
import { DEFAULT_PIN_ROOT } from "../../plugins/ebpf-bandwidth/config";
import { MODE } from "../helpers/mode";
import { type Netns, type NsScope, uniqueName } from "../helpers/netns";
import { REFERENCE_DIR, ourBinDir } from "../helpers/plugin";
import { until } from "../helpers/wait";
import type { PodStatus } from "./client";
import { Containerd, cleanupCgroups, mountsBelow, processesMentioning } from "./containerd";
import { PAUSE_IMAGE, buildPauseImage } from "./images";

export type Side = "ours" | "reference";

export interface World {
  side: Side;
  node: Netns;
  net: string;
  bridge: string;
  subnet: string;
  dataDir: string;
  dir: string;
  cgroupParent: string;
  ctd: Containerd;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Machine directories containerd and libcni create on first use (they are not configurable in 1.6). */
// Machine directories the pods' plugins create: containerd 1.6's, and ebpf-bandwidth's default pin
// root (the conflist a user writes keeps the default /sys/fs/bpf/tscni).
const SHARED_DIRS = ["/var/lib/cni/results", "/var/lib/cni", "/run/containerd/s", "/run/containerd/fifo", "/run/containerd", DEFAULT_PIN_ROOT];

export interface WorldOptions {
  binDir?: string;
  confDir?: string;
  /** Write the conflist (default); false: the caller installs one. */
  conflist?: boolean;
  /** containerd's environment, which it hands on to the plugins (default: the test mode's). */
  env?: Record<string, string>;
  /** Extra keys for the bandwidth plugin's entry in the conflist (ours: e.g. queueMs). */
  bandwidthConf?: Record<string, unknown>;
  /** containerd's conf_template (with `conflist: false`: containerd renders the conflist from it). */
  confTemplate?: string;
}

/**
 * One containerd of ours at a time on this machine (test files run in parallel processes): the
 * machine directories above are then created and removed by the same world. A lock on this
 * directory (it always exists and nothing is left behind), polled so the event loop keeps running.
 */
async function machineLock(): Promise<() => void> {
  const fd = fs.openSync(HERE, fs.constants.O_RDONLY);
  for (;;) {
    try {
      native().flock(fd, 2 | 4); // LOCK_EX | LOCK_NB
      return () => fs.closeSync(fd); // closing the descriptor releases the lock
    } catch (e) {
      if (!isSysError(e, "EWOULDBLOCK") && !isSysError(e, "EAGAIN")) {
        fs.closeSync(fd);
        throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function startWorld(scope: NsScope, side: Side, subnet: string, opts: WorldOptions = {}): Promise<World> {
  // Registered first, so they run last: after everything below is gone.
  scope.onCleanup(await machineLock());
  const absent = SHARED_DIRS.filter((d) => !fs.existsSync(d));
  // Only ever rmdir: removes a directory we created, and only if nothing else has put files there.
  scope.onCleanup(() => {
    for (const d of absent) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* not empty: someone else uses it now */
      }
    }
  });
  const node = scope.netns("crin");
  const dir = scope.tmpdir("tscni-cri-");
  const net = uniqueName("crinet");
  // ebpf-bandwidth pins under the default root, one directory per network: its DELs remove them,
  // but a run that lost containerd midway (killed with its process group) never sends those.
  scope.onCleanup(() => fs.rmSync(networkPath(DEFAULT_PIN_ROOT, net), { recursive: true, force: true }));
  const bridge = uniqueName("crbr");
  const dataDir = path.join(dir, "ipam");
  const confDir = opts.confDir ?? path.join(dir, "net.d");
  fs.mkdirSync(confDir, { recursive: true });
  if (opts.conflist ?? true) {
    // A private store (--data-dir); a user would keep the default.
    const list = buildConflist({ podCidr: subnet, network: net, bridge, dataDir }) as { plugins: Record<string, any>[] };
    if (side === "reference") list.plugins[1]!.type = "bandwidth";
    Object.assign(list.plugins[1]!, opts.bandwidthConf);
    fs.writeFileSync(path.join(confDir, "10-cri.conflist"), JSON.stringify(list, null, 2));
  }
  const cgroupParent = `/${uniqueName("tscnicri")}`;
  scope.onCleanup(() => void cleanupCgroups(cgroupParent.slice(1)));
  const image = buildPauseImage(dir);
  // The fallback mode is chosen by the environment containerd hands on to the plugins.
  const env: Record<string, string> = opts.env ?? (MODE === "fallback" ? { TSCNI_NO_DAEMON: "1" } : {});
  const ctd = await Containerd.start({ nodeNetns: node.path, dir: path.join(dir, "containerd"), binDir: opts.binDir ?? (side === "ours" ? ourBinDir() : REFERENCE_DIR), confDir, sandboxImage: PAUSE_IMAGE, env, ...(opts.confTemplate ? { confTemplate: opts.confTemplate } : {}) });
  scope.onCleanup(() => void ctd.stop()); // last resort; tests call stopWorld themselves
  ctd.importImage(image);
  return { side, node, net, bridge, subnet, dataDir, dir, cgroupParent, ctd };
}

export function podConfig(w: World, name: string, annotations: Record<string, string> = {}) {
  return { name, uid: `${name}-${w.net}`, namespace: "tscni-test", annotations, cgroupParent: w.cgroupParent, logDirectory: path.join(w.dir, "logs", name) };
}

/** The pod's network namespace, as containerd reports it (bind-mounted under its state dir). */
export function podNetns(st: PodStatus): string {
  const ns = (st.info?.runtimeSpec?.linux?.namespaces ?? []).find((n: { type: string }) => n.type === "network");
  if (!ns?.path) throw new Error(`no network namespace in the status of ${st.id}`);
  return ns.path;
}

export function inNetns(nsPath: string, cmd: string, args: string[], timeoutMs = 60_000) {
  const r = spawnSync("nsenter", [`--net=${nsPath}`, "--", cmd, ...args], { encoding: "utf8", env: { PATH }, timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export interface Flow {
  /** Received payload (goodput), bits/s, over the measured seconds. */
  bps: number;
  retransmits: number;
}

/**
 * iperf3 TCP from `client` to `server` (reverse: the server sends), both inside pod namespaces.
 * The first second is omitted (slow start, and the bucket a shaper starts with).
 */
export async function iperf(serverNs: string, serverIp: string, clientNs: string, o: { seconds: number; reverse?: boolean; port?: number }): Promise<Flow> {
  const port = String(o.port ?? 5201);
  const server = spawn("nsenter", [`--net=${serverNs}`, "--", "iperf3", "-s", "-1", "-p", port], { stdio: "ignore", env: { PATH } });
  try {
    // A LISTEN (0A) socket on the port, IPv4 or IPv6 (iperf3 listens on :: by default).
    const hex = Number(port).toString(16).toUpperCase().padStart(4, "0");
    await until(() => inNetns(serverNs, "grep", ["-qE", `:${hex} [0-9A-F]+:0000 0A`, "/proc/net/tcp", "/proc/net/tcp6"]).status === 0, `the iperf3 server to listen on port ${port}`, 30_000);
    const r = inNetns(clientNs, "iperf3", ["-c", serverIp, "-p", port, "-t", String(o.seconds + 1), "-O", "1", "-J", ...(o.reverse ? ["-R"] : [])], (o.seconds + 30) * 1000);
    const j = JSON.parse(r.stdout || "{}");
    if (r.status !== 0 || j.error) throw new Error(`iperf3 failed: ${j.error ?? r.stderr}`);
    return { bps: j.end.sum_received.bits_per_second, retransmits: j.end.sum_sent.retransmits ?? 0 };
  } finally {
    server.kill();
  }
}

export const ping = (fromNs: string, ip: string) => inNetns(fromNs, "ping", ["-c", "2", "-i", "0.2", "-W", "2", ip]);

/** What the node holds that pods could have left: links, qdiscs, NAT, store, pins, cache, netns, processes. */
export function inventory(w: World, pods: { id: string; netnsIno: number }[]) {
  // ebpf-bandwidth's shared IFB stays after its last pod, idle (no class), for the next one (GC
  // removes it): reported as `idleIfb`, not among the links and qdiscs left.
  const ifbIdle = (name: string) => name === IFB && w.node.run("tc", ["class", "show", "dev", IFB]).stdout.trim() === "";
  const names = (JSON.parse(w.node.ip("-j", "link", "show")) as { ifname: string }[]).map((l) => l.ifname);
  const idleIfb = names.some(ifbIdle);
  const links = names.filter((n) => !(idleIfb && n === IFB)).sort();
  const qdiscs = links.flatMap((n) =>
    w.node.run("tc", ["qdisc", "show", "dev", n]).stdout.split("\n").filter((q) => q && !/^qdisc noqueue /.test(q)).map((q) => `${n}: ${q}`),
  );
  const nat = inNetns(w.node.path, "sh", ["-c", "iptables-save -t nat; ip6tables-save -t nat; nft list ruleset 2>/dev/null"]).stdout.split("\n").filter((l) => /CNI-|cni-|tscni/.test(l));
  const storeDir = path.join(w.dataDir, w.net);
  const isIp = (f: string) => /^\d+\.\d+\.\d+\.\d+$/.test(f) || /^[0-9a-f:]+$/.test(f); // not "lock", "last_reserved_ip.0"
  const reservations = fs.existsSync(storeDir) ? fs.readdirSync(storeDir).filter(isIp) : [];
  const pinDir = networkPath(DEFAULT_PIN_ROOT, w.net);
  const pins = fs.existsSync(pinDir) ? fs.readdirSync(pinDir, { recursive: true }).map(String) : [];
  // libcni's result cache (containerd 1.6 cannot move it from /var/lib/cni): ours and loopback's.
  const cache = fs.existsSync("/var/lib/cni/results") ? fs.readdirSync("/var/lib/cni/results").filter((f) => pods.some((p) => f.includes(p.id))) : [];
  const netnsDir = path.join(w.dir, "containerd/state/io.containerd.grpc.v1.cri/netns");
  const netnsFiles = fs.existsSync(netnsDir) ? fs.readdirSync(netnsDir) : [];
  const liveNetns = new Set<number>();
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const m = /net:\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${p}/ns/net`));
      if (m) liveNetns.add(Number(m[1]));
    } catch {
      /* gone */
    }
  }
  const netnsAlive = pods.map((p) => p.netnsIno).filter((i) => liveNetns.has(i));
  const shims = processesMentioning(w.ctd.socket).filter((pid) => !/^containerd$/.test(fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()));
  return { links, qdiscs, nat, reservations, pins, cache, netnsFiles, netnsAlive, shims, idleIfb };
}

/** ebpf-bandwidth's shared IFB (its default name). */
const IFB = "tscni-ifb0";

/** Stop containerd and report what survives it: processes naming its socket, mounts under its directory. */
export async function stopWorld(w: World): Promise<{ processes: number[]; mounts: string[]; cgroups: string[] }> {
  await w.ctd.stop();
  return { processes: processesMentioning(w.ctd.socket), mounts: mountsBelow(w.dir), cgroups: cleanupCgroups(w.cgroupParent.slice(1)) };
}
