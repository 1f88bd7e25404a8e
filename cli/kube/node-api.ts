// The node's Node object from the Kubernetes API, through the ecosystem's client library
// (@kubernetes/client-node, loaded by ./load.ts): the in-cluster service account of the pod it
// runs in (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA, as client-go's
// InClusterConfig), one `get` of one Node per look. A thin layer: it turns each look into a
// NodeAnswer — the object, or a message that says what failed and whether another look may help;
// the wait and the subnets are cli/node-subnet.ts's.
import * as fs from "node:fs";
import * as path from "node:path";
import { type NodeAnswer, NodeSubnetError } from "../node-subnet";
import type { ObservableMiddleware } from "./client";
import { loadKubeClient } from "./load";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface InCluster {
  server: string;
  caFile: string;
  tokenFile: string;
}

/** The API server and the service account's credentials of the pod this runs in. */
export function inClusterConfig(env: Record<string, string | undefined>, dir = SERVICE_ACCOUNT_DIR): InCluster {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new NodeSubnetError("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: the node's pod subnet is read from the Kubernetes API only inside a pod (its service account); elsewhere give --pod-cidr or POD_CIDR");
  }
  const tokenFile = path.join(dir, "token");
  const caFile = path.join(dir, "ca.crt");
  for (const f of [tokenFile, caFile]) {
    try {
      fs.accessSync(f, fs.constants.R_OK);
    } catch (e) {
      throw new NodeSubnetError(`cannot read ${f} (${(e as NodeJS.ErrnoException).code}): the pod needs its service account's token and CA there (deploy/daemonset.yaml mounts them into install-cni)`);
    }
  }
  return { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, caFile, tokenFile };
}

/** A function that looks at the Node once per call; each request gets `requestTimeoutMs`. */
export async function nodeReader(c: InCluster, nodeName: string, requestTimeoutMs = 10_000): Promise<() => Promise<NodeAnswer>> {
  const k8s = await loadKubeClient();
  const kc = new k8s.KubeConfig();
  // As the library's loadFromCluster, from our environment and directory: the CA verifies the
  // server, the token file is re-read every minute (bound tokens rotate), as client-go does.
  kc.loadFromClusterAndUser(
    { name: "in-cluster", server: c.server, caFile: c.caFile, skipTLSVerify: false },
    { name: "service-account", authProvider: { name: "tokenFile", config: { tokenFile: c.tokenFile } } },
  );
  const api = kc.makeApiClient(k8s.CoreV1Api);
  // Every request ends by its deadline (node-fetch's signal), a connection that hangs included.
  const bounded: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(requestTimeoutMs));
      return new k8s.Observable(Promise.resolve(ctx));
    },
    post: (r) => new k8s.Observable(Promise.resolve(r)),
  };
  return async () => {
    try {
      return { node: await api.readNode({ name: nodeName }, { middleware: [bounded], middlewareMergeStrategy: "append" }) };
    } catch (e) {
      return describeFailure(e, c, nodeName, requestTimeoutMs);
    }
  };
}

/** The message of a Kubernetes Status body ({"kind":"Status","message":…}), if the body is one. */
function statusMessage(body: unknown): string | undefined {
  try {
    const s = typeof body === "string" ? JSON.parse(body) : body;
    return typeof s?.message === "string" ? s.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a failed look means: the client library's ApiException (the API answered with a status),
 * node-fetch's AbortError (our deadline) and FetchError (the connection or TLS failed), or
 * anything else (the token file went away).
 */
export function describeFailure(e: unknown, c: InCluster, nodeName: string, requestTimeoutMs: number): { failure: string; retry: boolean } {
  const api = `the Kubernetes API at ${c.server}`;
  const node = `node "${nodeName}"`;
  const err = (e ?? {}) as { code?: unknown; body?: unknown; name?: string; type?: string; message?: string };
  if (typeof err.code === "number") {
    const status = statusMessage(err.body);
    const said = `${err.code}${status ? `: ${status}` : ""}`;
    if (err.code === 401) return { retry: false, failure: `${api} did not accept the service account's token (${said})` };
    if (err.code === 403) return { retry: false, failure: `${api} does not let the service account read ${node} (${said}): it needs "get" on nodes (the ClusterRole tscni in deploy/daemonset.yaml)` };
    if (err.code === 404) return { retry: false, failure: `${api} has no ${node} (${said}): NODE_NAME must be this node's name (the downward API's spec.nodeName)` };
    return { retry: err.code === 429 || err.code >= 500, failure: `${api} answered ${said} when asked for ${node}` };
  }
  if (err.name === "AbortError" || err.type === "aborted") return { retry: true, failure: `${api} did not answer within ${requestTimeoutMs / 1000} s` };
  const reason = (err.message ?? String(e)).replace(/^request to \S+ failed, reason: /, "");
  if (typeof err.code === "string" && /CERT|SIGNATURE|ALTNAME/.test(err.code)) {
    return { retry: false, failure: `${api} presented a certificate that the service account's CA (${c.caFile}) does not accept: ${reason}` };
  }
  if (err.name === "FetchError") return { retry: true, failure: `cannot reach ${api}: ${reason}` };
  return { retry: false, failure: `reading ${node} from ${api} failed: ${reason}` };
}
