// A stand-in for the Kubernetes API server, as `tscni install` sees it from a pod: HTTPS with a
// certificate from a CA generated here (openssl), the CA and a bearer token laid out as a service
// account's directory, and GET /api/v1/nodes/<name> answered as the API server answers it — the
// JSON of a v1.Node (what `kubectl get node -o json` shows of a kubeadm node, managedFields and
// all), or a v1.Status for 401, 403 and 404, with the API server's headers.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { randomUUID } from "node:crypto";

export interface Pki {
  dir: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
}

/** A CA and a server certificate it signed for 127.0.0.1 / localhost (or `names`), in `dir`. */
export function makePki(dir: string, names = ["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes.default.svc"]): Pki {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=kubernetes", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=kube-apiserver");
  fs.writeFileSync(f("server.ext"), `subjectAltName=${names.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  ssl("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("server.crt"), "-days", "2", "-extfile", f("server.ext"));
  return { dir, caCert: f("ca.crt"), serverKey: f("server.key"), serverCert: f("server.crt") };
}

/** A service account's directory as the kubelet mounts it: token (no trailing newline), ca.crt, namespace. */
export function serviceAccountDir(dir: string, caCert: string, token: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "token"), token);
  fs.copyFileSync(caCert, path.join(dir, "ca.crt"));
  fs.writeFileSync(path.join(dir, "namespace"), "kube-system");
  return dir;
}

/** A v1.Node as the API server serves it; `podCIDRs` undefined: a node the controller manager has not given a subnet yet. */
export function nodeObject(name: string, podCIDRs?: string[]): Record<string, unknown> {
  const created = "2025-11-20T09:14:03Z";
  return {
    kind: "Node",
    apiVersion: "v1",
    metadata: {
      name,
      uid: "6f1c4b0e-2f55-4f0b-9d7e-3c7f5f0f9a21",
      resourceVersion: "184467",
      creationTimestamp: created,
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
      },
      annotations: {
        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
      managedFields: [
        {
          manager: "kubelet",
          operation: "Update",
          apiVersion: "v1",
          time: created,
          fieldsType: "FieldsV1",
          fieldsV1: { "f:metadata": { "f:annotations": { ".": {}, "f:volumes.kubernetes.io/controller-managed-attach-detach": {} }, "f:labels": { ".": {}, "f:kubernetes.io/hostname": {} } } },
        },
        ...(podCIDRs
          ? [{ manager: "kube-controller-manager", operation: "Update", apiVersion: "v1", time: created, fieldsType: "FieldsV1", fieldsV1: { "f:spec": { "f:podCIDR": {}, "f:podCIDRs": { ".": {}, ...Object.fromEntries(podCIDRs.map((c) => [`v:"${c}"`, {}])) } } } }]
          : []),
      ],
    },
    spec: {
      ...(podCIDRs ? { podCIDR: podCIDRs[0], podCIDRs } : {}),
      taints: podCIDRs ? [] : [{ key: "node.kubernetes.io/not-ready", effect: "NoSchedule" }],
    },
    status: {
      capacity: { cpu: "2", "ephemeral-storage": "20470152Ki", "hugepages-2Mi": "0", memory: "4025808Ki", pods: "110" },
      allocatable: { cpu: "2", "ephemeral-storage": "18865307132", "hugepages-2Mi": "0", memory: "3923408Ki", pods: "110" },
      conditions: [
        { type: "MemoryPressure", status: "False", lastHeartbeatTime: created, lastTransitionTime: created, reason: "KubeletHasSufficientMemory", message: "kubelet has sufficient memory available" },
        { type: "DiskPressure", status: "False", lastHeartbeatTime: created, lastTransitionTime: created, reason: "KubeletHasNoDiskPressure", message: "kubelet has no disk pressure" },
        { type: "PIDPressure", status: "False", lastHeartbeatTime: created, lastTransitionTime: created, reason: "KubeletHasSufficientPID", message: "kubelet has sufficient PID available" },
        podCIDRs
          ? { type: "Ready", status: "True", lastHeartbeatTime: created, lastTransitionTime: created, reason: "KubeletReady", message: "kubelet is posting ready status" }
          : { type: "Ready", status: "False", lastHeartbeatTime: created, lastTransitionTime: created, reason: "KubeletNotReady", message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized" },
      ],
      addresses: [
        { type: "InternalIP", address: "192.168.122.11" },
        { type: "Hostname", address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: "0f8d2a6c1b9e4e7fa3c5d2e1b0a9c8d7",
        systemUUID: "0f8d2a6c-1b9e-4e7f-a3c5-d2e1b0a9c8d7",
        bootID: "5b0e1c2d-3f4a-4b5c-8d9e-0f1a2b3c4d5e",
        kernelVersion: "6.1.0-27-amd64",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        containerRuntimeVersion: "containerd://1.6.20",
        kubeletVersion: "v1.31.4",
        kubeProxyVersion: "v1.31.4",
        operatingSystem: "linux",
        architecture: "amd64",
      },
      images: [{ names: ["registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097", "registry.k8s.io/pause:3.10"], sizeBytes: 320368 }],
    },
  };
}

/** A v1.Status, as the API server writes it for a failed request. */
export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

export interface Answer {
  status: number;
  body: unknown;
}

export interface Request {
  method: string;
  path: string;
  authorization: string | undefined;
  accept: string | undefined;
}

/**
 * The fake API server. `answer(name)` decides each GET of a node, after the token has been checked
 * (a request without `Bearer <token>` gets the API server's 401); everything else is a 404 Status.
 */
export class FakeApiServer {
  readonly requests: Request[] = [];
  private server!: https.Server;
  port = 0;

  constructor(private readonly pki: Pki, private readonly token: string, public answer: (name: string) => Answer) {}

  async start(): Promise<this> {
    this.server = https.createServer({ key: fs.readFileSync(this.pki.serverKey), cert: fs.readFileSync(this.pki.serverCert) }, (req, res) => {
      const url = new URL(req.url ?? "/", "https://x");
      this.requests.push({ method: req.method ?? "", path: url.pathname + url.search, authorization: req.headers.authorization, accept: req.headers.accept });
      const send = (a: Answer) => {
        const text = JSON.stringify(a.body);
        res.writeHead(a.status, {
          "Audit-Id": randomUUID(),
          "Cache-Control": "no-cache, private",
          "Content-Type": "application/json",
          "X-Kubernetes-Pf-Flowschema-Uid": "4a6e2b0c-7f1d-4e3a-9b5c-2d8f0e1a3b4c",
          "X-Kubernetes-Pf-Prioritylevel-Uid": "9c1d3e5f-7a2b-4c6d-8e0f-1a3b5c7d9e2f",
          "Content-Length": Buffer.byteLength(text),
        });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${this.token}`) return send({ status: 401, body: statusObject(401, "Unauthorized", "Unauthorized") });
      const m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(url.pathname);
      if (req.method !== "GET" || !m) return send({ status: 404, body: statusObject(404, "NotFound", "the server could not find the requested resource") });
      send(this.answer(decodeURIComponent(m[1]!)));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get env(): Record<string, string> {
    return { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The API server's answers: the node, a 403 for a service account without the role, a 404 for a name that is not a node. */
export const answers = {
  node: (name: string, podCIDRs?: string[]): Answer => ({ status: 200, body: nodeObject(name, podCIDRs) }),
  forbidden: (name: string, sa = "system:serviceaccount:kube-system:tscni"): Answer => ({
    status: 403,
    body: statusObject(403, "Forbidden", `nodes "${name}" is forbidden: User "${sa}" cannot get resource "nodes" in API group "" at the cluster scope`, { name, kind: "nodes" }),
  }),
  notFound: (name: string): Answer => ({ status: 404, body: statusObject(404, "NotFound", `nodes "${name}" not found`, { name, kind: "nodes" }) }),
};
