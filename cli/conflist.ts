// The conflist `tscni install --conflist-dir` writes for a node (the install-cni pattern): bridge
// with host-local over the node's pod subnet(s), then ebpf-bandwidth taking the runtime's
// `bandwidth` capability (kubernetes.io/ingress-bandwidth / egress-bandwidth pod annotations).
// Pure: options in, JSON out. containerd and CRI-O run `loopback` for lo themselves; it is
// installed, not listed here.
import { isCidr } from "../core/ip";
import { networkOf, parseCidr, parseIp } from "../kernel/netlink/ip";

export interface ConflistOptions {
  /** Comma-separated pod subnets, as kubelet's podCIDRs: one per family at most. */
  podCidr: string;
  network?: string;
  bridge?: string;
  /** Masquerade traffic leaving the pod subnet (default on: pods reach the outside through the node). */
  ipMasq?: boolean;
  /** Chain ebpf-bandwidth (default on). */
  bandwidth?: boolean;
  mtu?: number;
  /** host-local's store (default: its own, /var/lib/cni/networks). */
  dataDir?: string;
}

export const DEFAULT_NETWORK = "tscni";
export const DEFAULT_BRIDGE = "cni0";
export const DEFAULT_CONFLIST_NAME = "10-tscni.conflist";

export class ConflistError extends Error {
  override readonly name = "ConflistError";
}

/** "10.244.1.0/24,fd00:10:244:1::/64" → canonical subnets, IPv4 first; host bits refused. */
export function parsePodCidrs(text: string): string[] {
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new ConflistError("no pod subnet: give --pod-cidr or set POD_CIDR (e.g. 10.244.1.0/24)");
  const out: { family: 4 | 6; cidr: string }[] = [];
  for (const p of parts) {
    if (!isCidr(p)) throw new ConflistError(`pod subnet "${p}" is not an address with a prefix length`);
    const c = parseCidr(p);
    const net = networkOf(c);
    if (!parseIp(net).equals(parseIp(c.address))) {
      throw new ConflistError(`pod subnet "${p}" has host bits set (the subnet is ${net}/${c.prefixLen})`);
    }
    if ((c.family === 4 && c.prefixLen > 30) || (c.family === 6 && c.prefixLen > 126)) throw new ConflistError(`pod subnet "${p}" is too small for pods`);
    if (out.some((o) => o.family === c.family)) throw new ConflistError(`more than one IPv${c.family} pod subnet in "${text}"`);
    out.push({ family: c.family, cidr: `${net}/${c.prefixLen}` });
  }
  return out.sort((a, b) => a.family - b.family).map((o) => o.cidr);
}

export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  const subnets = parsePodCidrs(o.podCidr);
  const network = o.network ?? DEFAULT_NETWORK;
  const bridge = o.bridge ?? DEFAULT_BRIDGE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new ConflistError(`bridge name "${bridge}" is not a valid interface name`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(network)) throw new ConflistError(`network name "${network}" may hold letters, digits, "_", "." and "-" only`);
  if (o.dataDir !== undefined && !o.dataDir.startsWith("/")) throw new ConflistError(`data directory "${o.dataDir}" must be an absolute path`);
  const routes = subnets.map((s) => ({ dst: s.includes(":") ? "::/0" : "0.0.0.0/0" }));
  return {
    cniVersion: "1.0.0",
    name: network,
    plugins: [
      {
        type: "bridge",
        bridge,
        isGateway: true,
        ipMasq: o.ipMasq ?? true,
        hairpinMode: true,
        ...(o.mtu ? { mtu: o.mtu } : {}),
        ipam: { type: "host-local", ranges: subnets.map((subnet) => [{ subnet }]), routes, ...(o.dataDir ? { dataDir: o.dataDir } : {}) },
      },
      ...(o.bandwidth ?? true ? [{ type: "ebpf-bandwidth", capabilities: { bandwidth: true } }] : []),
    ],
  };
}
