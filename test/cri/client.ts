// A CRI v1 client over gRPC (the subset in cri.proto), as kubelet talks to containerd: a unix
// socket, protobuf messages, one call per RPC. Field names are camelCase (proto-loader's keepCase
// off); enums come back as their names, int64 as strings.
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";

// Not __dirname: scripts run these modules as ES modules (tsx), tests through vitest.
const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface PodConfig {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  cgroupParent?: string;
}

export interface PodStatus {
  id: string;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
  ip: string;
  additionalIps: string[];
  annotations: Record<string, string>;
  /** containerd's verbose info (pid, netns path, CNI result), parsed. */
  info: any;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

let service: grpc.ServiceClientConstructor | undefined;
function runtimeService(): grpc.ServiceClientConstructor {
  if (service) return service;
  const def = loader.loadSync(path.join(HERE, "cri.proto"), { keepCase: false, enums: String, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  service = pkg.runtime.v1.RuntimeService as grpc.ServiceClientConstructor;
  return service;
}

export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string, readonly timeoutMs = 120_000) {
    const Ctor = runtimeService();
    this.client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, req: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method]!.bind(this.client);
    return new Promise((resolve, reject) =>
      fn(req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => (err ? reject(new Error(`CRI ${method}: ${err.details || err.message}`)) : resolve(res as T))),
    );
  }

  version() {
    return this.call<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }>("Version", { version: "v1" });
  }

  async conditions(): Promise<RuntimeCondition[]> {
    const r = await this.call<{ status: { conditions: RuntimeCondition[] } }>("Status", {});
    return r.status.conditions;
  }

  /** kubelet's call once it knows the node's pod subnets: spec.podCIDRs, comma-separated. */
  async updateRuntimeConfig(podCidr: string): Promise<void> {
    await this.call("UpdateRuntimeConfig", { runtimeConfig: { networkConfig: { podCidr } } });
  }

  async runPodSandbox(p: PodConfig): Promise<string> {
    const config = {
      metadata: { name: p.name, uid: p.uid, namespace: p.namespace, attempt: p.attempt ?? 0 },
      hostname: p.hostname ?? p.name,
      logDirectory: p.logDirectory ?? "",
      labels: p.labels ?? {},
      annotations: p.annotations ?? {},
      // Network and IPC per pod, PID per container: what kubelet asks for an ordinary pod.
      linux: { cgroupParent: p.cgroupParent ?? "", securityContext: { namespaceOptions: { network: "POD", pid: "CONTAINER", ipc: "POD" } } },
    };
    const r = await this.call<{ podSandboxId: string }>("RunPodSandbox", { config });
    return r.podSandboxId;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call("StopPodSandbox", { podSandboxId: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call("RemovePodSandbox", { podSandboxId: id });
  }

  async podSandboxStatus(id: string): Promise<PodStatus> {
    const r = await this.call<{ status: any; info: Record<string, string> }>("PodSandboxStatus", { podSandboxId: id, verbose: true });
    const s = r.status;
    return {
      id: s.id,
      state: s.state,
      ip: s.network?.ip ?? "",
      additionalIps: (s.network?.additionalIps ?? []).map((x: { ip: string }) => x.ip),
      annotations: s.annotations ?? {},
      info: r.info?.info ? JSON.parse(r.info.info) : undefined,
    };
  }

  async listPodSandbox(): Promise<{ id: string; state: string; name: string }[]> {
    const r = await this.call<{ items: any[] }>("ListPodSandbox", {});
    return (r.items ?? []).map((i) => ({ id: i.id, state: i.state, name: i.metadata?.name ?? "" }));
  }

  close(): void {
    this.client.close();
  }
}
