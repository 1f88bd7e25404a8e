// deploy/ must agree with the code it deploys: the image name and default command, the paths the
// daemon and plugins use, and the executable's name in the install layout. (The artifacts
// themselves run under containerd in test/integration/cri-install.test.ts.)
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { EXECUTABLE_NAME } from "../../cli/install";
import { IMAGE_CMD, imageName } from "../../deploy/build-image";
import { IMAGE_BIN } from "../../deploy/image-contents";
import { DEFAULT_PIN_ROOT } from "../../plugins/ebpf-bandwidth/config";
import { LOCK_FILE } from "../../plugins/ebpf-bandwidth/ifb";

const DEPLOY = path.resolve(__dirname, "../../deploy");
const read = (f: string) => fs.readFileSync(path.join(DEPLOY, f), "utf8");

describe("deploy/daemonset.yaml", () => {
  const y = read("daemonset.yaml");
  const hostPaths = [...y.matchAll(/hostPath: \{ path: (\S+), type: (\w+) \}/g)].map((m) => m[1]);
  const mounts = [...y.matchAll(/mountPath: (\S+?)[,\s]/g)].map((m) => m[1]);

  it("runs the image built by deploy/build-image.ts: install-cni as the init container, then the daemon", () => {
    expect([...y.matchAll(/^ +image: (\S+)$/gm)].map((m) => m[1])).toEqual([imageName(), imageName()]);
    expect([...y.matchAll(/command: \["([^"]+)"\]/g)].map((m) => m[1])).toEqual([IMAGE_BIN, IMAGE_BIN]);
    const args = [...y.matchAll(/args: (\[.*\])/g)].map((m) => JSON.parse(m[1]!));
    expect(args).toEqual([IMAGE_CMD, ["daemon"]]);
    expect(y).toMatch(/- name: POD_CIDR\n/);
  });

  it("gives the daemon the node's network and PID namespaces, privilege, and every host path it uses", () => {
    expect(y).toMatch(/^ {6}hostNetwork: true$/m);
    expect(y).toMatch(/^ {6}hostPID: true$/m);
    expect(y).toMatch(/^ {12}privileged: true$/m);
    const runDir = path.dirname(LOCK_FILE);
    expect(hostPaths).toEqual(["/opt/cni/bin", "/etc/cni/net.d", runDir, path.dirname(DEFAULT_PIN_ROOT), "/var/lib/cni", "/run/xtables.lock"]);
    expect(mounts).toEqual(["/host/opt/cni/bin", "/host/etc/cni/net.d", "/opt/cni/bin", "/etc/cni/net.d", runDir, "/sys/fs/bpf", "/var/lib/cni", "/run/xtables.lock"]);
    expect(y).toContain("mountPath: /sys/fs/bpf, mountPropagation: Bidirectional");
  });
});

describe("deploy/tscni-daemon.service", () => {
  it("runs the installed executable's daemon, stopped by SIGTERM, restarted always", () => {
    const u = read("tscni-daemon.service");
    expect(u).toMatch(new RegExp(`^ExecStart=/opt/cni/bin/${EXECUTABLE_NAME} daemon$`, "m"));
    expect(u).toMatch(/^KillSignal=SIGTERM$/m);
    expect(u).toMatch(/^Restart=always$/m);
    expect(u).toMatch(/^WantedBy=multi-user.target$/m);
  });
});
