// A real runtime on our plugins: podman 4 (Debian, CNI backend, runc) starts a container from a
// locally built busybox rootfs on a network served by our bridge + host-local + ebpf-bandwidth,
// and a second container pings it. Everything is private to the test:
//  - podman runs inside a throwaway "node" namespace (`ip netns exec`), so its bridge and veths
//    never appear in the root namespace;
//  - its own --root/--runroot/--tmpdir, CNI config dir, plugin dir (CONTAINERS_CONF), vfs storage;
//  - libcni inside podman caches results in the fixed /var/lib/cni: a temp dir is bind-mounted
//    there, inside the private mount namespace `ip netns exec` gives us.
// `ip netns exec` remounts /sys, which drops the cgroup mounts runc needs; the script mounts the
// host's cgroup hierarchies again (same types and options as in /proc/self/mounts).
// The whole podman session runs in one shell so the netns bind mounts podman makes under
// /run/netns stay visible between its commands (they live and die with that mount namespace).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MODE } from "../helpers/mode";
import { NsScope, isRoot, uniqueName } from "../helpers/netns";
import { DIST_BIN, ourBinDir, usingBuiltBinary } from "../helpers/plugin";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** spawnSync's result, without blocking the event loop (killed after `timeoutMs`). */
function runAsync(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));

const skipReason = !isRoot()
  ? "needs root"
  : !have("podman") || !have("runc")
    ? "podman / runc not installed (scripts/ci-deps.sh)"
    : !BUSYBOX
      ? "busybox-static not installed"
      : !usingBuiltBinary()
        ? "dist/tscni not built (npm run build)"
        : undefined;

/** Shell lines re-creating this process's cgroup mounts under the fresh /sys of ip netns exec. */
function cgroupMounts(): string[] {
  const lines = fs.readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" "));
  const out = ["mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup"];
  for (const [dev, mp, type, opts] of lines) {
    if (type !== "cgroup" && type !== "cgroup2") continue;
    if (mp === "/sys/fs/cgroup") {
      // Pure cgroup v2 host: the tmpfs is not wanted.
      out.length = 0;
    }
    const o = opts!.split(",").filter((x) => !["rw", "relatime", "nosuid", "nodev", "noexec", "ro"].includes(x)).join(",");
    out.push(`mkdir -p ${mp} && mount -t ${type} ${o ? `-o ${o}` : ""} ${dev} ${mp}`);
  }
  return out;
}

describe.skipIf(skipReason !== undefined)(`podman (CNI backend) on our plugins${skipReason ? ` (${skipReason})` : ""}`, () => {
  const scope = new NsScope();
  afterEach(() => scope.cleanup());

  it("runs a container on our network and reaches it from a second one; cleans up fully", async () => {
    const node = scope.netns("pmn");
    const work = scope.tmpdir("podman-test-");
    const dirs = Object.fromEntries(["root", "runroot", "tmp", "cni-conf", "cni-cache", "data", "rootfs"].map((d) => [d, path.join(work, d)]));
    for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });

    // A tiny rootfs: static busybox and its applets.
    for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "run"]) fs.mkdirSync(path.join(dirs.rootfs!, d));
    fs.copyFileSync(BUSYBOX!, path.join(dirs.rootfs!, "bin/busybox"));
    fs.chmodSync(path.join(dirs.rootfs!, "bin/busybox"), 0o755);
    for (const a of ["sh", "sleep", "ping", "ip", "cat"]) fs.symlinkSync("busybox", path.join(dirs.rootfs!, "bin", a));
    fs.writeFileSync(path.join(dirs.rootfs!, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\n");
    fs.writeFileSync(path.join(dirs.rootfs!, "etc/group"), "root:x:0:\n");

    const net = uniqueName("pnet");
    const bridge = uniqueName("pbr");
    fs.writeFileSync(
      path.join(dirs["cni-conf"]!, `10-${net}.conflist`),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: net,
        plugins: [
          {
            type: "bridge",
            bridge,
            isGateway: true,
            ipMasq: false,
            ipam: { type: "host-local", dataDir: dirs.data, ranges: [[{ subnet: "10.66.7.0/24" }]], routes: [{ dst: "0.0.0.0/0" }] },
          },
          { type: "ebpf-bandwidth", ingressRate: 100_000_000, ingressBurst: 1 << 20, egressRate: 100_000_000, egressBurst: 1 << 20 },
        ],
      }),
    );
    const conf = path.join(work, "containers.conf");
    fs.writeFileSync(
      conf,
      [
        "[network]",
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${ourBinDir()}"]`,
        `network_config_dir = "${dirs["cni-conf"]}"`,
        "[engine]",
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "none"',
        "",
      ].join("\n"),
    );

    // podman's libcni insists on /var/lib/cni; create it only if absent, and remove it again.
    const createdVarLibCni = !fs.existsSync("/var/lib/cni");
    if (createdVarLibCni) {
      fs.mkdirSync("/var/lib/cni");
      scope.onCleanup(() => fs.rmdirSync("/var/lib/cni"));
    }

    const P = [
      "podman",
      `--root ${dirs.root} --runroot ${dirs.runroot} --tmpdir ${dirs.tmp} --storage-driver vfs`,
      `--network-backend cni --cni-config-dir ${dirs["cni-conf"]} --runtime runc --cgroup-manager cgroupfs --events-backend none`,
    ].join(" ");
    // runc cannot raise RLIMIT_NOFILE/NPROC above this VM's hard limits (no CAP_SYS_RESOURCE
    // here); podman's defaults ask for more, so ask for little.
    const RUN = `${P} run --network ${net} --ulimit nofile=1024:1024 --ulimit nproc=1024:1024`;
    const ROOTFS = `--rootfs ${dirs.rootfs}`; // takes the image's place: last before the command
    // A fresh bpffs at /sys/fs/bpf for the session (ip netns exec's new /sys has none): the
    // bandwidth plugin's pins live there between ADD and DEL, and vanish with the session.
    const prelude = ["set -eu", ...cgroupMounts(), "mount -t bpf bpf /sys/fs/bpf", `mount --bind ${dirs["cni-cache"]} /var/lib/cni`, `export CONTAINERS_CONF=${conf}`];
    // Resident mode: a daemon in this session's namespaces (as a DaemonSet would run one beside
    // podman); fallback mode: every call execs the executable.
    const sock = '"/run/tscni/tscni-$(stat -L -c %i /proc/self/ns/net).sock"';
    const daemon =
      MODE === "resident"
        ? [`${DIST_BIN} daemon --socket ${sock} >/dev/null 2>&1 &`, `for i in $(seq 200); do [ -S ${sock} ] && break; sleep 0.05; done`]
        : ["export TSCNI_NO_DAEMON=1"];
    const stopDaemonCmd = MODE === "resident" ? `; ${DIST_BIN} daemon stop --socket ${sock.replace(/"/g, "")} >/dev/null 2>&1` : "";
    const script = [
      ...prelude,
      ...daemon,
      `trap '${P} rm -af -t 0 >/dev/null 2>&1 || true${stopDaemonCmd}' EXIT`,
      `${RUN} -d --name srv-${net} ${ROOTFS} sleep 120 >/dev/null`,
      `ip=$(${P} inspect srv-${net} --format '{{(index .NetworkSettings.Networks "${net}").IPAddress}}')`,
      'echo "IP=$ip"',
      'echo "CACHE_DURING=$(ls /var/lib/cni/results | wc -l)"',
      'echo "PINS_DURING=$(find /sys/fs/bpf -mindepth 1 -not -type d -not -name "*.debug" | wc -l)"',
      `${RUN} --rm --name cli-${net} ${ROOTFS} ping -c 2 -W 2 "$ip"`,
      `${P} rm -f -t 0 srv-${net} >/dev/null`,
      'echo "CACHE_AFTER=$(ls /var/lib/cni/results | wc -l)"',
      // progs.debug / maps.debug are the kernel's own files in every fresh bpffs.
      'echo "PINS_AFTER=$(find /sys/fs/bpf -mindepth 1 -not -type d -not -name "*.debug" | wc -l)"',
      'echo "PIN_FILES=$(find /sys/fs/bpf -mindepth 1 | tr "\\n" " ")"',
      'echo "LINKS_AFTER=$(ip -o link | awk -F": " \'{print $2}\' | sort | tr "\\n" " ")"',
      'echo "IFB_CLASSES_AFTER=$(tc class show dev tscni-ifb0 2>/dev/null | wc -l)"',
    ].join("\n");
    const started = Date.now();
    // A private PID namespace as well: whatever podman leaves running (conmon double-forks to
    // init, and this VM's init does not reap) is killed and reaped when the session's shell ends.
    // Asynchronously: the session takes up to minutes, and vitest's worker must keep answering its runner.
    const r = await runAsync("ip", ["netns", "exec", node.name, "unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script], 240_000, { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" });
    const out = `${r.stdout}\n${r.stderr}`;
    // If anything above died midway, remove what podman left (containers, their netns) the same way.
    scope.onCleanup(() => spawnSync("ip", ["netns", "exec", node.name, "sh", "-c", [...prelude, `${P} rm -af -t 0`].join("\n")], { timeout: 60_000 }));

    expect(r.status, `podman session failed after ${Date.now() - started} ms:\n${out}`).toBe(0);
    const ip = /IP=(\S+)/.exec(out)?.[1];
    expect(ip, out).toMatch(/^10\.66\.7\.\d+$/);
    expect(out).toMatch(/2 packets transmitted, 2 packets received/);
    expect(/CACHE_DURING=(\d+)/.exec(out)?.[1], "libcni cached no result while the container ran").toBe("1");
    expect(/CACHE_AFTER=(\d+)/.exec(out)?.[1], "libcni cache entries left after rm").toBe("0");
    expect(Number(/PINS_DURING=(\d+)/.exec(out)?.[1]), "ebpf-bandwidth pinned nothing").toBeGreaterThan(0);
    expect(/PINS_AFTER=(\d+)/.exec(out)?.[1], `BPF pins left after rm: ${/PIN_FILES=(.*)/.exec(out)?.[1]}`).toBe("0");
    // Only lo, the bridge and the shared IFB remain in the node namespace: every veth went with
    // its container. The IFB stays idle for the next shaped pod (GC deletes it): no class is left.
    expect(/LINKS_AFTER=(.*)/.exec(out)?.[1]?.trim().split(" ").sort()).toEqual([bridge, "lo", "tscni-ifb0"].sort());
    expect(/IFB_CLASSES_AFTER=(\d+)/.exec(out)?.[1], "classes left on the idle IFB").toBe("0");
    // host-local released both addresses (only its lock and last-reserved bookkeeping remain).
    const left = fs.readdirSync(path.join(dirs.data!, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(left, "host-local reservations left").toEqual([]);
    // Nothing reached the root namespace (other tests run concurrently, so only our bridge is
    // checked by name; the veths hang off it).
    expect(spawnSync("ip", ["link", "show", bridge]).status, `bridge ${bridge} appeared in the root namespace`).not.toBe(0);
  }, 300_000);
});
