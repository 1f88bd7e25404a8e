// The install artifacts under a real runtime: the tscni OCI image (deploy/build-image.ts, built
// offline from dist/tscni) run by a private containerd with the host directories bind-mounted, as
// a DaemonSet's init container would be. containerd starts with an empty CNI bin and config
// directory (network not ready); the image's install step fills both; containerd picks up the
// conflist by itself, and a pod then gets an address from POD_CIDR. A bad POD_CIDR changes nothing.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLUGIN_NAMES } from "../../cli/registry";
import { IMAGE_BIN } from "../../deploy/image-contents";
import { IMAGE_CMD, buildTscniImage } from "../../deploy/build-image";
import { MODE, daemonSocket } from "../helpers/mode";
import { NsScope, isRoot, uniqueName } from "../helpers/netns";
import { DIST_BIN, usingBuiltBinary } from "../helpers/plugin";
import { haveContainerd } from "../cri/containerd";
import { type World, inNetns, podConfig, podNetns, startWorld, stopWorld } from "../cri/world";

const skip = !isRoot() ? "needs root" : !haveContainerd() ? "containerd / runc not installed (scripts/ci-deps.sh)" : !usingBuiltBinary() ? "dist/tscni not built" : undefined;
const POD_CIDR = "10.88.3.0/24";

describe.skipIf(skip !== undefined)(`tscni image under containerd: install-cni into host directories${skip ? ` (${skip})` : ""}`, () => {
  const scope = new NsScope();
  let w: World;
  let hostBin: string;
  let hostConf: string;
  let image: string;
  const net = uniqueName("instnet");
  const bridge = uniqueName("instbr");
  let store: string;

  beforeAll(async () => {
    const root = scope.tmpdir("tscni-inst-host-");
    hostBin = path.join(root, "opt/cni/bin");
    hostConf = path.join(root, "etc/cni/net.d");
    fs.mkdirSync(hostBin, { recursive: true });
    fs.mkdirSync(hostConf, { recursive: true });
    w = await startWorld(scope, "ours", POD_CIDR, { binDir: hostBin, confDir: hostConf, conflist: false });
    store = path.join(w.dataDir, net);
    const archive = path.join(w.dir, "tscni.oci.tar");
    const built = buildTscniImage(archive, { name: `tscni.test/tscni:${net}` });
    image = built.name;
    w.ctd.importImage(archive);
  }, 180_000);
  afterAll(async () => {
    if (w) w.ctd.ctr(["-n", "k8s.io", "images", "rm", image]);
    await w?.ctd.stop();
    scope.cleanup();
  }, 120_000);

  // Unique names and a private host-local store (--data-dir, a host path: the plugins run on the host).
  const names = () => ["--network", net, "--bridge", bridge, "--data-dir", w.dataDir];

  /** `ctr run` the image with the host directories mounted, as the DaemonSet's init container. */
  function runImage(bin: string, conf: string, env: Record<string, string>, args: string[]) {
    const id = uniqueName("inst");
    return w.ctd.ctr([
      "-n", "k8s.io", "run", "--rm", "--snapshotter", w.ctd.snapshotter, "--cgroup", `${w.cgroupParent}/${id}`, "--runc-root", path.join(w.dir, "runc-ctr"),
      "--mount", `type=bind,src=${bin},dst=/host/opt/cni/bin,options=rbind:rw`,
      "--mount", `type=bind,src=${conf},dst=/host/etc/cni/net.d,options=rbind:rw`,
      ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
      image, id, IMAGE_BIN, ...args,
    ]);
  }

  it("starts with containerd's network not ready (no plugins, no conflist)", async () => {
    const net = (await w.ctd.cri.conditions()).find((c) => c.type === "NetworkReady");
    expect(net?.status).toBe(false);
  });

  it("refuses a bad POD_CIDR with exit 2 and writes nothing", () => {
    const r = runImage(hostBin, hostConf, { POD_CIDR: "10.88.3.1/24" }, [...IMAGE_CMD, ...names()]);
    expect(r.status).toBe(2);
    expect(r.stderr + r.stdout).toContain('pod subnet "10.88.3.1/24" has host bits set (the subnet is 10.88.3.0/24)');
    expect([fs.readdirSync(hostBin), fs.readdirSync(hostConf)]).toEqual([[], []]);
  });

  it("installs the executable, a shim under every plugin name and the conflist from POD_CIDR", () => {
    const r = runImage(hostBin, hostConf, { POD_CIDR }, [...IMAGE_CMD, ...names()]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "installed /host/opt/cni/bin/tscni",
      ...PLUGIN_NAMES.map((n) => `installed /host/opt/cni/bin/${n}`),
      "wrote /host/etc/cni/net.d/10-tscni.conflist",
    ]);
    expect(fs.readdirSync(hostBin).sort()).toEqual([...PLUGIN_NAMES, "tscni"].sort());
    expect(new Set(PLUGIN_NAMES.map((n) => fs.statSync(path.join(hostBin, n)).ino)).size).toBe(1);
    expect(fs.statSync(path.join(hostBin, "tscni")).size).toBe(fs.statSync(path.join(__dirname, "../../dist/tscni")).size);
    expect(fs.readdirSync(hostConf)).toEqual(["10-tscni.conflist"]);
    const list = JSON.parse(fs.readFileSync(path.join(hostConf, "10-tscni.conflist"), "utf8"));
    expect(list.name).toBe(net);
    expect(list.plugins.map((p: any) => p.type)).toEqual(["bridge", "ebpf-bandwidth"]);
    expect(list.plugins[0].ipam).toEqual({ type: "host-local", ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: w.dataDir });
    // The installed executable runs on the host, outside the image.
    const v = spawnSync(path.join(hostBin, "loopback"), [], { env: { CNI_COMMAND: "VERSION", TSCNI_NO_DAEMON: "1" }, input: "", encoding: "utf8" });
    expect(JSON.parse(v.stdout).supportedVersions).toContain("1.1.0");
  });

  it("containerd picks the conflist up and runs a pod on it, with an address from POD_CIDR", async () => {
    await w.ctd.waitReady();
    const id = await w.ctd.cri.runPodSandbox(podConfig(w, "inst", { "kubernetes.io/egress-bandwidth": "50M" }));
    const st = await w.ctd.cri.podSandboxStatus(id);
    expect(st.state).toBe("SANDBOX_READY");
    expect(st.ip).toMatch(/^10\.88\.3\.\d+$/);
    expect(inNetns(podNetns(st), "ip", ["-o", "-4", "addr", "show", "eth0"]).stdout).toContain(` ${st.ip}/24 `);
    expect(fs.existsSync(path.join(store, st.ip))).toBe(true);
    await w.ctd.cri.stopPodSandbox(id);
    await w.ctd.cri.removePodSandbox(id);
    expect(fs.existsSync(path.join(store, st.ip))).toBe(false);
    expect(w.node.ip("-o", "link", "show", "type", "veth")).toBe("");
  });

  it("re-installs over a live install: same layout, conflist replaced whole, no temporaries", () => {
    const before = fs.statSync(path.join(hostConf, "10-tscni.conflist")).ino;
    // A changed option (the pod subnet of a node never changes under its bridge's gateway address).
    const r = runImage(hostBin, hostConf, { POD_CIDR }, [...IMAGE_CMD, ...names(), "--mtu", "1400"]);
    expect(r.status).toBe(0);
    expect(fs.readdirSync(hostBin).sort()).toEqual([...PLUGIN_NAMES, "tscni"].sort());
    expect(fs.readdirSync(hostConf)).toEqual(["10-tscni.conflist"]);
    expect(fs.statSync(path.join(hostConf, "10-tscni.conflist")).ino).not.toBe(before);
    expect(JSON.parse(fs.readFileSync(path.join(hostConf, "10-tscni.conflist"), "utf8")).plugins[0].mtu).toBe(1400);
  });

  it.skipIf(MODE === "fallback")("runs `tscni daemon` from the image as the DaemonSet's daemon container, and the shims' calls go to it", async () => {
    const sock = daemonSocket(w.node.path)!;
    const id = uniqueName("dmn");
    // hostNetwork (the node namespace containerd runs in), hostPID (the daemon checks each caller's
    // namespace through its pid; the namespace this test and containerd run in: this VM's PID 1
    // cannot be joined), privileged, and the host paths of deploy/daemonset.yaml.
    const bind = (p: string, opts = "rbind:rw") => ["--mount", `type=bind,src=${p},dst=${p},options=${opts}`];
    const r = w.ctd.ctr([
      "-n", "k8s.io", "run", "-d", "--null-io", "--net-host", "--privileged", "--with-ns", `pid:/proc/${process.pid}/ns/pid`,
      "--snapshotter", w.ctd.snapshotter, "--cgroup", `${w.cgroupParent}/${id}`, "--runc-root", path.join(w.dir, "runc-ctr"),
      ...bind("/run/tscni"), ...bind("/sys/fs/bpf"), ...bind(hostBin, "rbind:ro"), ...bind(w.dataDir),
      image, id, IMAGE_BIN, "daemon",
    ]);
    expect(r.stderr).toBe("");
    let stopped = false;
    const stopContainer = () => {
      if (stopped) return;
      stopped = true;
      w.ctd.ctr(["-n", "k8s.io", "task", "kill", "-s", "SIGTERM", id]);
      for (let i = 0; i < 100 && w.ctd.ctr(["-n", "k8s.io", "task", "ls", "-q"]).stdout.includes(id); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      w.ctd.ctr(["-n", "k8s.io", "task", "delete", id]);
      w.ctd.ctr(["-n", "k8s.io", "containers", "delete", id]);
    };
    scope.onCleanup(stopContainer);
    // It takes the socket over from any daemon a shim spawned there before.
    const status = () => spawnSync("nsenter", [`--net=${w.node.path}`, DIST_BIN, "daemon", "status", "--socket", sock], { encoding: "utf8" }).stdout;
    let st = "";
    for (let i = 0; i < 100 && !(/pid (\d+)/.test(st) && !st.includes("spawned on demand")); i++) {
      await new Promise((res) => setTimeout(res, 100));
      st = status();
    }
    const pid = Number(/pid (\d+)/.exec(st)?.[1]);
    expect(st).not.toContain("spawned on demand");
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`${w.cgroupParent}/${id}`); // the container's process
    const served = () => Number(/(\d+) requests/.exec(status())?.[1]);
    const before = served();
    const podId = await w.ctd.cri.runPodSandbox(podConfig(w, "dmn"));
    const pod = await w.ctd.cri.podSandboxStatus(podId);
    expect(pod.ip).toMatch(/^10\.88\.3\.\d+$/);
    await w.ctd.cri.stopPodSandbox(podId);
    await w.ctd.cri.removePodSandbox(podId);
    // loopback, bridge (host-local in-process) and ebpf-bandwidth, ADD and DEL each.
    expect(served() - before).toBeGreaterThanOrEqual(6);
    expect(fs.readdirSync(store)).not.toContain(pod.ip);
    stopContainer();
    expect(fs.existsSync(sock)).toBe(false); // SIGTERM: the daemon removed its socket
  });

  it("carries iptables for the bridge's ipMasq when it runs as the daemon container", () => {
    const r = w.ctd.ctr(["-n", "k8s.io", "run", "--rm", "--snapshotter", w.ctd.snapshotter, "--cgroup", `${w.cgroupParent}/ipt`, "--runc-root", path.join(w.dir, "runc-ctr"), image, uniqueName("ipt"), "/usr/sbin/iptables-save", "--version"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^iptables-save v1\.\d+\.\d+ \((nf_tables|legacy)\)/);
  });

  it("leaves nothing behind when containerd stops", async () => {
    expect(await stopWorld(w)).toEqual({ processes: [], mounts: [], cgroups: [] });
  }, 60_000);
});
