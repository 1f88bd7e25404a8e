// `tscni install --conflist-dir` with the node's pod subnets from the Kubernetes API
// (cli/kube/node-api.ts through @kubernetes/client-node, cli/node-subnet.ts): against a local HTTPS
// server that answers as the API server does (test/helpers/kube-api.ts: a v1.Node's JSON, the
// bearer token checked, a CA generated here), and the wait's logic with a fake clock. Each failure
// says what failed, and nothing is written on the node until a subnet is known. The built
// executable does the same in test/integration/install-api.test.ts.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildConflist } from "../../cli/conflist";
import { type InstallArgs, type InstallIo, conflistText, runInstall } from "../../cli/install-cni";
import { type NodeAnswer, podCidrsOf, waitForPodCidrs } from "../../cli/node-subnet";
import { PLUGIN_NAMES } from "../../cli/registry";
import { type Answer, FakeApiServer, answers, makePki, nodeObject, serviceAccountDir } from "../helpers/kube-api";

const haveOpenssl = spawnSync("sh", ["-c", "command -v openssl"]).status === 0;
const TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRzY25pLXRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06dHNjbmkifQ.c2lnbmF0dXJl";

describe("the pod subnets of a Node", () => {
  it("are spec.podCIDRs in the node's order, or spec.podCIDR alone, or none", () => {
    expect(podCidrsOf(nodeObject("n", ["fd00:10:244:1::/64", "10.244.1.0/24"]))).toEqual(["fd00:10:244:1::/64", "10.244.1.0/24"]);
    expect(podCidrsOf({ spec: { podCIDR: "10.244.1.0/24" } })).toEqual(["10.244.1.0/24"]);
    expect(podCidrsOf(nodeObject("n"))).toEqual([]);
    expect(podCidrsOf({})).toEqual([]);
  });
});

describe("waiting for them", () => {
  /** A fake clock: sleep advances it. */
  function harness(script: NodeAnswer[]) {
    let t = 0;
    const log: string[] = [];
    const seen: number[] = [];
    const run = (retryMs = 30_000) =>
      waitForPodCidrs({
        nodeName: "n1",
        read: async () => {
          seen.push(t);
          return script.length > 1 ? script.shift()! : script[0]!;
        },
        log: (l) => log.push(`${t / 1000}s ${l}`),
        pollMs: 5000,
        retryMs,
        remindMs: 60_000,
        sleep: async (ms) => void (t += ms),
        now: () => t,
      });
    return { run, log, seen };
  }
  const bare = { node: nodeObject("n1") };
  const ready = { node: nodeObject("n1", ["10.244.1.0/24", "fd00:10:244:1::/64"]) };

  it("logs once that the node has none, reminds every minute, and returns the subnets once it has them", async () => {
    const h = harness([...Array<NodeAnswer>(30).fill(bare), ready]);
    expect(await h.run()).toBe("10.244.1.0/24,fd00:10:244:1::/64");
    expect(h.log).toEqual([
      "0s node \"n1\" has no pod subnet yet (spec.podCIDRs is empty; kube-controller-manager assigns one with --allocate-node-cidrs): waiting, nothing is written until it has one",
      "60s node \"n1\" still has no pod subnet after 60 s: waiting",
      "120s node \"n1\" still has no pod subnet after 120 s: waiting",
      "150s node \"n1\": pod subnets 10.244.1.0/24, fd00:10:244:1::/64 (spec.podCIDRs)",
    ]);
  });

  it("retries what may pass for as long as allowed, logging each new failure once, and gives up saying for how long", async () => {
    const down = { failure: "cannot reach the Kubernetes API at https://10.96.0.1:443: connect ECONNREFUSED 10.96.0.1:443", retry: true };
    const h = harness([down]);
    await expect(h.run(12_000)).rejects.toThrow("cannot reach the Kubernetes API at https://10.96.0.1:443: connect ECONNREFUSED 10.96.0.1:443 (retried for 12 s)");
    expect(h.seen).toEqual([0, 5000, 10_000, 12_000]); // the last look is at the bound, not past it
    expect(h.log).toEqual(["0s cannot reach the Kubernetes API at https://10.96.0.1:443: connect ECONNREFUSED 10.96.0.1:443: retrying for up to 12 s"]);
    // A failure that passes restarts the bound.
    const h2 = harness([down, down, bare, down, down, down, ready]);
    expect(await h2.run(12_000)).toBe("10.244.1.0/24,fd00:10:244:1::/64");
  });

  it("ends at once on what another look cannot change, and on subnets a node cannot use", async () => {
    await expect(harness([{ failure: "forbidden", retry: false }]).run()).rejects.toThrow(/^forbidden$/);
    const odd = { node: nodeObject("n1", ["10.244.1.0/24", "10.245.1.0/24"]) };
    await expect(harness([odd]).run()).rejects.toThrow('node "n1": spec.podCIDRs ["10.244.1.0/24","10.245.1.0/24"]: more than one IPv4 pod subnet in "10.244.1.0/24,10.245.1.0/24"');
  });
});

describe.skipIf(!haveOpenssl)(`tscni install against an API server over HTTPS${haveOpenssl ? "" : " (openssl missing)"}`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-api-"));
  let pki: ReturnType<typeof makePki>;
  let sa: string;
  let api: FakeApiServer;
  let node: (name: string) => Answer;
  const exe = path.join(tmp, "fake-tscni");

  beforeAll(async () => {
    pki = makePki(path.join(tmp, "pki"));
    sa = serviceAccountDir(path.join(tmp, "serviceaccount"), pki.caCert, TOKEN);
    fs.writeFileSync(exe, "#!/bin/sh\n", { mode: 0o755 });
    api = await new FakeApiServer(pki, TOKEN, (name) => node(name)).start();
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  afterEach(() => {
    api.requests.length = 0;
  });

  /** One install into fresh host directories; what it printed, and what it left there. */
  async function install(env: Record<string, string>, more: Partial<InstallArgs> = {}) {
    const host = fs.mkdtempSync(path.join(tmp, "host-"));
    const bin = path.join(host, "opt/cni/bin");
    const conf = path.join(host, "etc/cni/net.d");
    const out: string[] = [];
    const err: string[] = [];
    const io: InstallIo = { out: (s) => out.push(s), err: (s) => err.push(s) };
    const args: InstallArgs = { dir: bin, shim: false, conflistDir: conf, conflistName: "10-tscni.conflist", ipMasq: true, bandwidth: true, executable: exe, serviceAccountDir: sa, pollMs: 50, apiTimeout: 2, ...more };
    const code = await runInstall(args, env, io);
    const files = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
    return { code, out, err, bin, conf, written: [...files(bin), ...files(conf)], conflist: fs.existsSync(path.join(conf, "10-tscni.conflist")) ? fs.readFileSync(path.join(conf, "10-tscni.conflist"), "utf8") : undefined };
  }

  it("reads spec.podCIDRs of NODE_NAME with the service account's token, and writes the dual-stack conflist", async () => {
    node = (name) => (name === "worker-1" ? answers.node(name, ["10.244.3.0/24", "fd00:10:244:3::/64"]) : answers.notFound(name));
    const r = await install({ ...api.env, NODE_NAME: "worker-1" });
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(api.requests).toEqual([{ method: "GET", path: "/api/v1/nodes/worker-1", authorization: `Bearer ${TOKEN}`, accept: "application/json, */*;q=0.8" }]);
    expect(r.conflist).toBe(conflistText(buildConflist({ podCidr: "10.244.3.0/24,fd00:10:244:3::/64" })));
    expect(r.out).toEqual([
      `reading the pod subnets of node "worker-1" from the Kubernetes API at https://127.0.0.1:${api.port}`,
      'node "worker-1": pod subnets 10.244.3.0/24, fd00:10:244:3::/64 (spec.podCIDRs)',
      ...PLUGIN_NAMES.map((n) => `installed ${path.join(r.bin, n)}`),
      `wrote ${path.join(r.conf, "10-tscni.conflist")}`,
    ]);
  });

  it("waits while the node has no pod subnet, writing nothing, and installs once it has one", async () => {
    let looks = 0;
    let host: string | undefined;
    const writtenMeanwhile: string[] = [];
    node = (name) => {
      looks++;
      // Whatever install might have written while the node had no subnet would be under its host directory by now.
      if (host) for (const d of fs.readdirSync(host)) writtenMeanwhile.push(d);
      return looks < 4 ? answers.node(name) : answers.node(name, ["10.244.9.0/24"]);
    };
    const tmpBefore = new Set(fs.readdirSync(tmp));
    const p = install({ ...api.env, NODE_NAME: "worker-2" });
    host = path.join(tmp, fs.readdirSync(tmp).find((d) => !tmpBefore.has(d))!);
    const r = await p;
    expect(r.code).toBe(0);
    expect(looks).toBe(4);
    expect(writtenMeanwhile).toEqual([]);
    expect(r.out.slice(0, 3)).toEqual([
      `reading the pod subnets of node "worker-2" from the Kubernetes API at https://127.0.0.1:${api.port}`,
      'node "worker-2" has no pod subnet yet (spec.podCIDRs is empty; kube-controller-manager assigns one with --allocate-node-cidrs): waiting, nothing is written until it has one',
      'node "worker-2": pod subnet 10.244.9.0/24 (spec.podCIDRs)',
    ]);
    expect(JSON.parse(r.conflist!).plugins[0].ipam.ranges).toEqual([[{ subnet: "10.244.9.0/24" }]]);
  });

  it("a 403 (no RBAC for nodes): says so with the API's message, exit 1, nothing written, no retry", async () => {
    node = (name) => answers.forbidden(name);
    const r = await install({ ...api.env, NODE_NAME: "worker-3" });
    expect([r.code, r.written, api.requests.length]).toEqual([1, [], 1]);
    expect(r.err).toEqual([
      `tscni install: the Kubernetes API at https://127.0.0.1:${api.port} does not let the service account read node "worker-3" (403: nodes "worker-3" is forbidden: User "system:serviceaccount:kube-system:tscni" cannot get resource "nodes" in API group "" at the cluster scope): it needs "get" on nodes (the ClusterRole tscni in deploy/daemonset.yaml)`,
    ]);
  });

  it("a token the API does not accept (401), and a NODE_NAME that is no node (404)", async () => {
    const wrongToken = serviceAccountDir(path.join(tmp, "other-sa"), pki.caCert, "not-the-token");
    node = (name) => answers.node(name, ["10.244.1.0/24"]);
    const r401 = await install({ ...api.env, NODE_NAME: "worker-1" }, { serviceAccountDir: wrongToken });
    expect([r401.code, r401.written]).toEqual([1, []]);
    expect(r401.err).toEqual([`tscni install: the Kubernetes API at https://127.0.0.1:${api.port} did not accept the service account's token (401)`]);
    node = (name) => answers.notFound(name);
    const r404 = await install({ ...api.env, NODE_NAME: "no-such-node" });
    expect([r404.code, r404.written]).toEqual([1, []]);
    expect(r404.err).toEqual([`tscni install: the Kubernetes API at https://127.0.0.1:${api.port} has no node "no-such-node" (404: nodes "no-such-node" not found): NODE_NAME must be this node's name (the downward API's spec.nodeName)`]);
  });

  it("an API server that cannot be reached: retried for --api-timeout, then exit 1 saying why; nothing written", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const t0 = Date.now();
    const r = await install({ KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(closed), NODE_NAME: "worker-1" }, { apiTimeout: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect([r.code, r.written]).toEqual([1, []]);
    const why = `cannot reach the Kubernetes API at https://127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed}`;
    expect(r.out).toEqual([`reading the pod subnets of node "worker-1" from the Kubernetes API at https://127.0.0.1:${closed}`, `${why}: retrying for up to 1 s`]);
    expect(r.err).toEqual([`tscni install: ${why} (retried for 1 s)`]);
  });

  it("retries 5xx answers and goes on when the API recovers", async () => {
    let looks = 0;
    node = (name) => (++looks < 3 ? { status: 503, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "etcdserver: leader changed", code: 503 } } : answers.node(name, ["10.244.5.0/24"]));
    const r = await install({ ...api.env, NODE_NAME: "worker-5" });
    expect(r.code).toBe(0);
    expect(r.out[1]).toBe(`the Kubernetes API at https://127.0.0.1:${api.port} answered 503: etcdserver: leader changed when asked for node "worker-5": retrying for up to 2 s`);
    expect(JSON.parse(r.conflist!).plugins[0].ipam.ranges).toEqual([[{ subnet: "10.244.5.0/24" }]]);
  });

  it("a server certificate the service account's CA did not sign: refused, exit 1", async () => {
    const otherCa = makePki(path.join(tmp, "other-pki"));
    const r = await install({ ...api.env, NODE_NAME: "worker-1" }, { serviceAccountDir: serviceAccountDir(path.join(tmp, "other-ca-sa"), otherCa.caCert, TOKEN) });
    expect([r.code, r.written, api.requests.length]).toEqual([1, [], 0]);
    expect(r.err).toEqual([
      `tscni install: the Kubernetes API at https://127.0.0.1:${api.port} presented a certificate that the service account's CA (${path.join(tmp, "other-ca-sa/ca.crt")}) does not accept: unable to verify the first certificate`,
    ]);
  });

  it("POD_CIDR and --pod-cidr override the API; without any source, or outside a pod, it says what to give", async () => {
    node = (name) => answers.node(name, ["10.244.1.0/24"]);
    const explicit = await install({ ...api.env, NODE_NAME: "worker-1", POD_CIDR: "10.99.0.0/24" });
    expect([explicit.code, api.requests.length]).toEqual([0, 0]);
    expect(JSON.parse(explicit.conflist!).plugins[0].ipam.ranges).toEqual([[{ subnet: "10.99.0.0/24" }]]);
    const flag = await install({ ...api.env, NODE_NAME: "worker-1", POD_CIDR: "10.99.0.0/24" }, { podCidr: "10.98.0.0/24" });
    expect(JSON.parse(flag.conflist!).plugins[0].ipam.ranges).toEqual([[{ subnet: "10.98.0.0/24" }]]);
    // An empty POD_CIDR (an empty ConfigMap key) is no override.
    const empty = await install({ ...api.env, NODE_NAME: "worker-1", POD_CIDR: "" });
    expect([empty.code, api.requests.length]).toEqual([0, 1]);

    const none = await install({ ...api.env });
    expect([none.code, none.written]).toEqual([2, []]);
    expect(none.err).toEqual([
      "tscni install: no pod subnet: give --pod-cidr or set POD_CIDR (e.g. 10.244.1.0/24), or set NODE_NAME (--node) to read the node's spec.podCIDRs from the Kubernetes API, or write a template for containerd (--containerd-template)",
    ]);
    const outside = await install({ NODE_NAME: "worker-1" });
    expect([outside.code, outside.written]).toEqual([1, []]);
    expect(outside.err).toEqual([
      "tscni install: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: the node's pod subnet is read from the Kubernetes API only inside a pod (its service account); elsewhere give --pod-cidr or POD_CIDR",
    ]);
    const noToken = await install({ ...api.env, NODE_NAME: "worker-1" }, { serviceAccountDir: path.join(tmp, "nowhere") });
    expect([noToken.code, noToken.written]).toEqual([1, []]);
    expect(noToken.err).toEqual([`tscni install: cannot read ${path.join(tmp, "nowhere/token")} (ENOENT): the pod needs its service account's token and CA there (deploy/daemonset.yaml mounts them into install-cni)`]);
    // Bad options are refused before the API is asked.
    const bad = await install({ ...api.env, NODE_NAME: "worker-1" }, { bridge: "a-bridge-name-too-long" });
    expect([bad.code, bad.written, api.requests.length]).toEqual([2, [], 1]);
    const badTimeout = await install({ ...api.env, NODE_NAME: "worker-1" }, { apiTimeout: Number.NaN });
    expect([badTimeout.code, badTimeout.err, api.requests.length]).toEqual([2, ["tscni install: --api-timeout must be a number of seconds above 0"], 1]);
  });
});
