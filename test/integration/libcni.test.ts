// Our plugins driven by the real runtime library: libcni 1.1.2 from Debian, through the small
// cnitool-like driver in conformance/libcni (built offline in GOPATH mode). The same scenarios run
// against the Go reference plugins, so a difference shows up as one side failing. Covers the
// result cache (written on ADD, fed to CHECK/DEL as prevResult, removed on DEL), CHECK detecting a
// broken attachment, idempotent DEL, GC with valid attachments and STATUS (both done by the driver
// the libcni 1.2 way, as this libcni predates them). No answer of ours is turned into a skip: only
// the reference's lack of GC/STATUS (a fact of its version, known before calling it) changes what
// is expected.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { MODE, startDaemonSync } from "../helpers/mode";
import { NsScope, type Netns, isRoot, uniqueName } from "../helpers/netns";
import { REFERENCE_DIR, REPO, haveReference, ourBinDir, usingBuiltBinary } from "../helpers/plugin";

const DRIVER = path.join(REPO, "build/libcni-driver");
const haveGo = () => spawnSync("sh", ["-c", "command -v go && test -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni"]).status === 0;

interface Target {
  label: string;
  dir: () => string;
  bandwidth: string;
  /** GC/STATUS need spec 1.1.0; the reference (1.1.1) stops at 1.0.0. */
  gcStatus: boolean;
  skip?: string;
}

const targets: Target[] = [
  { label: "reference", dir: () => REFERENCE_DIR, bandwidth: "bandwidth", gcStatus: false, skip: haveReference() ? undefined : "containernetworking-plugins not installed" },
  { label: "ours", dir: () => ourBinDir(), bandwidth: "ebpf-bandwidth", gcStatus: true, skip: usingBuiltBinary() ? undefined : "dist/tscni not built" },
];

const skipAll = !isRoot() ? "needs root" : !haveGo() ? "golang-go / golang-github-appc-cni-dev missing (scripts/ci-deps.sh)" : undefined;

beforeAll(() => {
  if (!skipAll) execFileSync(path.join(REPO, "conformance/libcni/build.sh"), [DRIVER], { stdio: "inherit" });
}, 300_000);

// Two chains: bridge + host-local alone, and with the bandwidth plugin chained behind (prevResult).
const chains = [
  { label: "bridge+host-local", bandwidth: false },
  { label: "bridge+host-local+bandwidth", bandwidth: true },
];

for (const [target, chain] of targets.flatMap((t) => chains.map((c) => [t, c] as const))) {
  describe.skipIf(skipAll ?? target.skip)(`libcni → ${target.label}, ${chain.label}${skipAll ?? target.skip ? ` (${skipAll ?? target.skip})` : ""}`, () => {
    const scope = new NsScope();
    afterEach(() => scope.cleanup());

    interface Env {
      node: Netns;
      net: string;
      cacheDir: string;
      /** Run the driver inside the node namespace; returns exit code, stdout, stderr. */
      drive(args: string[]): { code: number; stdout: string; stderr: string; json: any };
    }

    function setup(range: [number, number] = [10, 250]): Env {
      const node = scope.netns("lcn");
      const confDir = scope.tmpdir("libcni-conf-");
      const cacheDir = scope.tmpdir("libcni-cache-");
      const dataDir = scope.tmpdir("libcni-data-");
      const net = uniqueName("lnet");
      const bridge = uniqueName("lbr");
      const conflist = {
        cniVersion: "1.0.0",
        name: net,
        plugins: [
          {
            type: "bridge",
            bridge,
            isGateway: true,
            ipMasq: false,
            ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.77.0.0/24", rangeStart: `10.77.0.${range[0]}`, rangeEnd: `10.77.0.${range[1]}` }]], routes: [{ dst: "0.0.0.0/0" }] },
          },
          ...(chain.bandwidth ? [{ type: target.bandwidth, ingressRate: 100_000_000, ingressBurst: 1 << 20, egressRate: 100_000_000, egressBurst: 1 << 20 }] : []),
        ],
      };
      fs.writeFileSync(path.join(confDir, `10-${net}.conflist`), JSON.stringify(conflist, null, 2));
      // `ip netns exec` gives a fresh /sys without bpffs; a node has one at /sys/fs/bpf. Bind a
      // private instance there so the bandwidth plugin's pins outlive each plugin process.
      const bpffs = scope.tmpdir("libcni-bpffs-");
      execFileSync("mount", ["-t", "bpf", "bpf", bpffs]);
      scope.onCleanup(() => void spawnSync("umount", ["-l", bpffs]));
      // Resident mode: our shims hand their calls to a daemon in the node (as a DaemonSet runs it).
      if (target.label === "ours") scope.onCleanup(startDaemonSync(node.name, bpffs));
      const drive = (args: string[]) => {
        const [cmd, ...rest] = args;
        const r = spawnSync("ip", ["netns", "exec", node.name, "sh", "-c", 'mount --bind "$0" /sys/fs/bpf && exec "$@"', bpffs, DRIVER, "-conf-dir", confDir, "-path", target.dir(), "-cache-dir", cacheDir, ...rest.filter((a) => a.startsWith("-")), cmd!, net, ...rest.filter((a) => !a.startsWith("-"))], {
          encoding: "utf8",
          // libcni passes its own environment on to plugins: keep it clean (but for the test mode).
          env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...(MODE === "fallback" ? { TSCNI_NO_DAEMON: "1" } : {}) },
        });
        let json: any;
        try {
          json = JSON.parse(r.stdout);
        } catch {
          json = undefined;
        }
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
      };
      return { node, net, cacheDir, drive };
    }

    // Flags are passed as single "-flag=value" tokens so drive() can split flags from positionals.
    const ctr = (id: string) => `-container=${id}`;

    /** ADD, which must succeed: every plugin in both chains implements it (an answer of "not implemented" fails the test). */
    function add(env: Env, ns: Netns, id: string) {
      const r = env.drive(["add", ns.path, ctr(id)]);
      expect(r.code, `add failed: ${r.stdout} ${r.stderr}`).toBe(0);
      return r;
    }

    it("add → cached result → check → broken check → del → del", () => {
      const env = setup();
      const ctrNs = scope.netns("lct");
      const id = `lc-${uniqueName("a")}`;
      const added = add(env, ctrNs, id);
      const res = added.json;
      expect(res.cniVersion).toBe("1.0.0");
      const eth0 = res.interfaces.find((i: any) => i.name === "eth0");
      expect(eth0?.sandbox).toBe(ctrNs.path);
      const ip = res.ips[0].address as string;
      expect(ctrNs.ip("-j", "addr", "show", "dev", "eth0")).toContain(ip.split("/")[0]);

      // libcni cached the final result; `cached` reads it back through libcni.
      const cacheFile = path.join(env.cacheDir, "results", `${env.net}-${id}-eth0`);
      expect(fs.existsSync(cacheFile)).toBe(true);
      const cached = env.drive(["cached", ctrNs.path, ctr(id)]);
      expect(cached.code).toBe(0);
      expect(cached.json.ips).toEqual(res.ips);

      const check = env.drive(["check", ctrNs.path, ctr(id)]);
      expect(check.code, `check failed: ${check.stdout} ${check.stderr}`).toBe(0);

      // Break the attachment: CHECK (fed the cached prevResult) must notice.
      ctrNs.ip("link", "del", "eth0");
      const broken = env.drive(["check", ctrNs.path, ctr(id)]);
      expect(broken.code, "check of a container without eth0 passed").not.toBe(0);

      const del = env.drive(["del", ctrNs.path, ctr(id)]);
      expect(del.code, `del failed: ${del.stdout} ${del.stderr}`).toBe(0);
      expect(fs.existsSync(cacheFile)).toBe(false);
      const again = env.drive(["del", ctrNs.path, ctr(id)]);
      expect(again.code, `second del failed: ${again.stdout} ${again.stderr}`).toBe(0);
    });

    it("del after the container namespace is gone releases the address", () => {
      const env = setup([10, 10]);
      const a = scope.netns("lct");
      add(env, a, "lc-gone-a");
      spawnSync("ip", ["netns", "delete", a.name]);
      const del = env.drive(["del", a.path, ctr("lc-gone-a")]);
      expect(del.code, `del failed: ${del.stdout} ${del.stderr}`).toBe(0);
      const b = scope.netns("lct");
      add(env, b, "lc-gone-b"); // the one address is free again
    });

    it(target.gcStatus ? "gc keeps valid attachments and frees the rest; status is ok" : "gc and status are refused (spec 1.1.0 verbs, not in plugins 1.1.1)", () => {
      const env = setup([10, 11]);
      const keep = scope.netns("lct");
      const stale = scope.netns("lct");
      add(env, keep, "lc-keep");
      add(env, stale, "lc-stale");
      spawnSync("ip", ["netns", "delete", stale.name]);
      const gc = env.drive(["gc", "-gc-version=1.1.0", "-valid=lc-keep/eth0"]);
      const status = env.drive(["status", "-gc-version=1.1.0"]);
      if (!target.gcStatus) {
        expect(gc.code).not.toBe(0);
        expect(status.code).not.toBe(0);
        return;
      }
      expect(gc.code, `gc failed: ${gc.stdout} ${gc.stderr}`).toBe(0);
      expect(status.code, `status failed: ${status.stdout} ${status.stderr}`).toBe(0);
      // The stale attachment's address is free: a third container fits into the two-address range.
      add(env, scope.netns("lct"), "lc-third");
      expect(env.drive(["check", keep.path, ctr("lc-keep")]).code, "kept attachment broken by GC").toBe(0);
      // GC from the cache (cnitool's view: everything cached is alive) keeps all three.
      expect(env.drive(["gc", "-gc-version=1.1.0"]).code).toBe(0);
      expect(env.drive(["check", keep.path, ctr("lc-keep")]).code).toBe(0);
    });
  });
}
