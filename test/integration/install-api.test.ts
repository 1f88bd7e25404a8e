// The built executable's install step reading the node's pod subnets from the Kubernetes API, as
// the DaemonSet's install-cni container runs it: NODE_NAME, KUBERNETES_SERVICE_HOST/PORT, and the
// service account's token and CA at /var/run/secrets/kubernetes.io/serviceaccount (a tmpfs over
// /run in a private mount namespace, so the machine's own /run is untouched). The client library
// comes from the executable's second bundle (the asset tscni-k8s.cjs, cli/kube/load.ts). The
// server is test/helpers/kube-api.ts's; the same paths in-process: test/unit/install-api.test.ts.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLUGIN_NAMES } from "../../cli/registry";
import { type Answer, FakeApiServer, answers, makePki, serviceAccountDir } from "../helpers/kube-api";
import { isRoot } from "../helpers/netns";
import { DIST_BIN, usingBuiltBinary } from "../helpers/plugin";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip = !isRoot() ? "needs root (a private mount namespace)" : !usingBuiltBinary() ? "dist/tscni not built" : !have("openssl") ? "openssl missing" : undefined;
const TOKEN = "tscni-test-token";
const SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

describe.skipIf(skip !== undefined)(`dist/tscni install with NODE_NAME: the node's spec.podCIDRs from the API${skip ? ` (${skip})` : ""}`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-api-exe-"));
  let api: FakeApiServer;
  let sa: string;
  let node: (name: string) => Answer;

  beforeAll(async () => {
    const pki = makePki(path.join(tmp, "pki"));
    sa = serviceAccountDir(path.join(tmp, "serviceaccount"), pki.caCert, TOKEN);
    api = await new FakeApiServer(pki, TOKEN, (name) => node(name)).start();
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The executable's install step as the init container runs it (asynchronously: the server answers from this process). */
  function install(host: string, nodeName: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const script = `mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p ${SA_MOUNT} && cp ${sa}/token ${sa}/ca.crt ${sa}/namespace ${SA_MOUNT}/ && exec "$@"`;
    const child = spawn("unshare", ["-m", "sh", "-c", script, "sh", DIST_BIN, "install", "--dir", path.join(host, "opt/cni/bin"), "--conflist-dir", path.join(host, "etc/cni/net.d"), "--api-timeout", "5"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_NAME: nodeName, ...api.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
  }

  const contents = (host: string) => ["opt/cni/bin", "etc/cni/net.d"].flatMap((d) => (fs.existsSync(path.join(host, d)) ? fs.readdirSync(path.join(host, d)) : []));

  it("waits with a log line while the node has no pod subnet, writes nothing meanwhile, then installs with it", async () => {
    const host = fs.mkdtempSync(path.join(tmp, "host-"));
    let looks = 0;
    const meanwhile: string[] = [];
    node = (name) => {
      looks++;
      meanwhile.push(...contents(host));
      return looks < 2 ? answers.node(name) : answers.node(name, ["10.244.12.0/24", "fd00:10:244:12::/64"]);
    };
    const r = await install(host, "worker-12");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(meanwhile).toEqual([]);
    expect(api.requests.every((q) => q.authorization === `Bearer ${TOKEN}` && q.path === "/api/v1/nodes/worker-12")).toBe(true);
    const bin = path.join(host, "opt/cni/bin");
    expect(r.stdout.trim().split("\n")).toEqual([
      `reading the pod subnets of node "worker-12" from the Kubernetes API at https://127.0.0.1:${api.port}`,
      'node "worker-12" has no pod subnet yet (spec.podCIDRs is empty; kube-controller-manager assigns one with --allocate-node-cidrs): waiting, nothing is written until it has one',
      'node "worker-12": pod subnets 10.244.12.0/24, fd00:10:244:12::/64 (spec.podCIDRs)',
      `installed ${path.join(bin, "tscni")}`,
      ...PLUGIN_NAMES.map((n) => `installed ${path.join(bin, n)}`),
      `wrote ${path.join(host, "etc/cni/net.d/10-tscni.conflist")}`,
    ]);
    const list = JSON.parse(fs.readFileSync(path.join(host, "etc/cni/net.d/10-tscni.conflist"), "utf8"));
    expect(list.plugins[0].ipam.ranges).toEqual([[{ subnet: "10.244.12.0/24" }], [{ subnet: "fd00:10:244:12::/64" }]]);
  }, 60_000);

  it("a 403 ends it at once with the API's message and exit 1; nothing written", async () => {
    const host = fs.mkdtempSync(path.join(tmp, "host-"));
    node = (name) => answers.forbidden(name);
    const r = await install(host, "worker-13");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('(403: nodes "worker-13" is forbidden: User "system:serviceaccount:kube-system:tscni" cannot get resource "nodes" in API group "" at the cluster scope): it needs "get" on nodes');
    expect(contents(host)).toEqual([]);
  }, 60_000);
});
