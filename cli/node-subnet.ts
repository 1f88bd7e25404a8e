// The node's pod subnets from its Node object (`spec.podCIDRs`, which the controller manager fills
// with --allocate-node-cidrs), and the wait for them. Pure: the API access is handed in as
// `read` (cli/kube/node-api.ts), the clock, the sleep and the log too, so every path of the wait
// is tested without a cluster (test/unit/install-api.test.ts runs it against an HTTPS server).
import { ConflistError, parsePodCidrs } from "./conflist";

/** What we read of a v1.Node. */
export interface NodeLike {
  metadata?: { name?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

/** One look at the Node: its object, or why there is none (and whether another look may help). */
export type NodeAnswer = { node: NodeLike } | { failure: string; retry: boolean };

export class NodeSubnetError extends Error {
  override readonly name = "NodeSubnetError";
}

/**
 * The pod subnets a Node carries, in its order ("" when it has none yet). `spec.podCIDRs` is the
 * list (its first entry equals `spec.podCIDR`); `spec.podCIDR` alone is what an API server older
 * than 1.16 sends.
 */
export function podCidrsOf(node: NodeLike): string[] {
  const list = (node.spec?.podCIDRs ?? []).filter((c) => typeof c === "string" && c !== "");
  if (list.length > 0) return list;
  return node.spec?.podCIDR ? [node.spec.podCIDR] : [];
}

export interface WaitOptions {
  nodeName: string;
  read: () => Promise<NodeAnswer>;
  log: (line: string) => void;
  /** Between two looks while the node has no subnet or the API cannot be reached. */
  pollMs: number;
  /** How long failures that may pass (unreachable, 5xx, 429, no answer) are retried before giving up. */
  retryMs: number;
  /** While waiting for a subnet, a reminder this often. */
  remindMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Look at the Node until it has pod subnets, and return them as a `--pod-cidr` value
 * ("10.244.1.0/24,fd00:10:244:1::/64"), checked by the conflist's own rules. A node without one is
 * waited for as long as it takes (it is the controller manager's to assign, and nothing can start
 * pods on the node before); failures that may pass are retried for `retryMs`, others end the wait
 * at once. Nothing is written here: the caller writes only what this returns.
 */
export async function waitForPodCidrs(o: WaitOptions): Promise<string> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const remindMs = o.remindMs ?? 60_000;
  const node = `node "${o.nodeName}"`;
  let waitingSince: number | undefined;
  let lastReminder = 0;
  let failingSince: number | undefined;
  let lastFailure: string | undefined;
  for (;;) {
    const a = await o.read();
    let pause = o.pollMs;
    if ("failure" in a) {
      if (!a.retry) throw new NodeSubnetError(a.failure);
      failingSince ??= now();
      const waited = now() - failingSince;
      if (waited >= o.retryMs) throw new NodeSubnetError(`${a.failure} (retried for ${seconds(waited)})`);
      if (a.failure !== lastFailure) o.log(`${a.failure}: retrying for up to ${seconds(o.retryMs)}`);
      lastFailure = a.failure;
      pause = Math.min(pause, o.retryMs - waited);
    } else {
      failingSince = undefined;
      lastFailure = undefined;
      const cidrs = podCidrsOf(a.node);
      if (cidrs.length > 0) {
        const value = cidrs.join(",");
        try {
          parsePodCidrs(value);
        } catch (e) {
          if (e instanceof ConflistError) throw new NodeSubnetError(`${node}: spec.podCIDRs ${JSON.stringify(cidrs)}: ${e.message}`);
          throw e;
        }
        o.log(`${node}: pod subnet${cidrs.length > 1 ? "s" : ""} ${cidrs.join(", ")} (spec.podCIDRs)`);
        return value;
      }
      if (waitingSince === undefined) {
        waitingSince = lastReminder = now();
        o.log(`${node} has no pod subnet yet (spec.podCIDRs is empty; kube-controller-manager assigns one with --allocate-node-cidrs): waiting, nothing is written until it has one`);
      } else if (now() - lastReminder >= remindMs) {
        lastReminder = now();
        o.log(`${node} still has no pod subnet after ${seconds(now() - waitingSince)}: waiting`);
      }
    }
    await sleep(pause);
  }
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
