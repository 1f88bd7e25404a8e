// The ebpf-bandwidth integration tests' helpers: the topology and iperf3/tc helpers (in
// ebpf-bandwidth-topology.ts, free of vitest so that scripts/bench-bandwidth.ts can use them too)
// plus assertions.
import { expect } from "vitest";
import type { Netns } from "../helpers/netns";
import { type Topo, linksOf, pinsUnder, tc } from "./ebpf-bandwidth-topology";

export * from "./ebpf-bandwidth-topology";

/**
 * Nothing of ours in the node: no pins, no htb/bfifo/tbf/fq qdiscs but the IFB's root, and an IFB that
 * is gone or idle (no class: DEL leaves it for the next pod; GC removes it).
 */
export function expectNothingLeft(t: Topo) {
  expect(pinsUnder(t.pinRoot)).toEqual([]);
  expect(ifbClasses(t.node)).toEqual([]);
  expect(tc(t.node, "qdisc", "show").split("\n").filter((l) => !/ dev tscni-ifb0 /.test(l)).join("\n")).not.toMatch(/htb|bfifo|tbf|qdisc fq /);
}

/** The classes on the shared IFB ([] when it is gone or idle). */
export function ifbClasses(node: Netns): string[] {
  if (!linksOf(node).includes("tscni-ifb0")) return [];
  return tc(node, "class", "show", "dev", "tscni-ifb0").split("\n").filter(Boolean);
}
