// deploy/ must agree with the code it deploys: the image name and default command, the paths the
// daemon and plugins use, the executable's name in the install layout, and what install-cni needs
// to read its Node (NODE_NAME, the service account's token where cli/kube/node-api.ts reads it,
// `get` on nodes). (The artifacts themselves run under containerd in
// test/integration/cri-install.test.ts; the API path in test/unit/install-api.test.ts.)
import * as fs from "node:fs";
import * as path from "node:path";
import { type V1ClusterRole, type V1ClusterRoleBinding, type V1DaemonSet, loadAllYaml } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { EXECUTABLE_NAME } from "../../cli/install";
import { SERVICE_ACCOUNT_DIR } from "../../cli/kube/node-api";
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
    expect(y).toMatch(/- name: NODE_NAME\n +valueFrom:\n +fieldRef:\n +fieldPath: spec.nodeName\n/);
  });

  it("gives the daemon the node's network and PID namespaces, privilege, and every host path it uses", () => {
    expect(y).toMatch(/^ {6}hostNetwork: true$/m);
    expect(y).toMatch(/^ {6}hostPID: true$/m);
    expect(y).toMatch(/^ {12}privileged: true$/m);
    const runDir = path.dirname(LOCK_FILE);
    expect(hostPaths).toEqual(["/opt/cni/bin", "/etc/cni/net.d", runDir, path.dirname(DEFAULT_PIN_ROOT), "/var/lib/cni", "/run/xtables.lock"]);
    expect(mounts).toEqual(["/host/opt/cni/bin", "/host/etc/cni/net.d", SERVICE_ACCOUNT_DIR, "/opt/cni/bin", "/etc/cni/net.d", runDir, "/sys/fs/bpf", "/var/lib/cni", "/run/xtables.lock"]);
    expect(y).toContain("mountPath: /sys/fs/bpf, mountPropagation: Bidirectional");
  });
});

describe("deploy/daemonset.yaml: the node's pod subnets from its Node", () => {
  // Parsed by the Kubernetes client library into its typed objects, as kubectl would read them.
  const docs = loadAllYaml(read("daemonset.yaml")) as { kind: string; metadata: { name: string; namespace?: string } }[];
  const ds = docs.find((d) => d.kind === "DaemonSet") as V1DaemonSet;
  const pod = ds.spec!.template.spec!;

  it("has no ConfigMap: a service account, a role that may `get` nodes and nothing else, its binding, the DaemonSet", () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(["ServiceAccount/tscni", "ClusterRole/tscni", "ClusterRoleBinding/tscni", "DaemonSet/tscni"]);
    expect((docs[1] as V1ClusterRole).rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }]);
    const binding = docs[2] as V1ClusterRoleBinding;
    expect([binding.roleRef.kind, binding.roleRef.name]).toEqual(["ClusterRole", "tscni"]);
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "tscni", namespace: ds.metadata!.namespace }]);
    expect(docs[0]!.metadata.namespace).toBe(ds.metadata!.namespace);
  });

  it("gives the service account's token to install-cni alone, where the in-cluster config reads it", () => {
    expect(pod.serviceAccountName).toBe("tscni");
    expect(pod.automountServiceAccountToken).toBe(false);
    const tokenVolume = pod.volumes!.find((v) => v.projected?.sources?.some((s) => s.serviceAccountToken))!;
    expect(tokenVolume.projected!.sources!.map((s) => s.serviceAccountToken?.path ?? s.configMap?.items?.[0]?.path ?? s.downwardAPI?.items?.[0]?.path)).toEqual(["token", "ca.crt", "namespace"]);
    const mounting = [...pod.initContainers!, ...pod.containers].filter((c) => c.volumeMounts?.some((m) => m.name === tokenVolume.name));
    expect(mounting.map((c) => c.name)).toEqual(["install-cni"]);
    expect(mounting[0]!.volumeMounts!.find((m) => m.name === tokenVolume.name)).toEqual({ name: tokenVolume.name, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true });
    expect(mounting[0]!.env).toEqual([{ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }]);
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
