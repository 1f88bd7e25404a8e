// The conflist `tscni install --conflist-dir` writes for a node (the install-cni pattern): bridge
// with host-local over the node's pod subnet(s), then ebpf-bandwidth taking the runtime's
// `bandwidth` capability (kubernetes.io/ingress-bandwidth / egress-bandwidth pod annotations).
// Pure: options in, JSON out. containerd and CRI-O run `loopback` for lo themselves; it is
// installed, not listed here. The same chain as a containerd CNI config template
// (`tscni install --containerd-template`), which leaves the subnets to kubelet and containerd.
import { isCidr, networkOf, parseCidr, parseIpBytes } from "../core/ip";

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
    if (!parseIpBytes(net).equals(parseIpBytes(c.address))) {
      throw new ConflistError(`pod subnet "${p}" has host bits set (the subnet is ${net}/${c.prefixLen})`);
    }
    if ((c.family === 4 && c.prefixLen > 30) || (c.family === 6 && c.prefixLen > 126)) throw new ConflistError(`pod subnet "${p}" is too small for pods`);
    if (out.some((o) => o.family === c.family)) throw new ConflistError(`more than one IPv${c.family} pod subnet in "${text}"`);
    out.push({ family: c.family, cidr: `${net}/${c.prefixLen}` });
  }
  return out.sort((a, b) => a.family - b.family).map((o) => o.cidr);
}

/** Everything but the subnets, as a template has it: the options that do not come from kubelet. */
export type ChainOptions = Omit<ConflistOptions, "podCidr">;

/** Refuse names and paths the chain cannot use, before anything waits or is written. */
export function checkChainOptions(o: ChainOptions): void {
  const network = o.network ?? DEFAULT_NETWORK;
  const bridge = o.bridge ?? DEFAULT_BRIDGE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new ConflistError(`bridge name "${bridge}" is not a valid interface name`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(network)) throw new ConflistError(`network name "${network}" may hold letters, digits, "_", "." and "-" only`);
  if (o.dataDir !== undefined && !o.dataDir.startsWith("/")) throw new ConflistError(`data directory "${o.dataDir}" must be an absolute path`);
}

/** host-local's ranges: one range set per pod subnet (per family), in the order given. */
export const rangesFor = (subnets: readonly string[]) => subnets.map((subnet) => [{ subnet }]);

/**
 * The pods' default routes: one per family among the subnets, IPv4 first, as containerd 1.6 fills
 * `{{.Routes}}` (pkg/cri/server/update_runtime_config.go, getRoutes).
 */
export function routesFor(subnets: readonly string[]): { dst: string }[] {
  const v4 = subnets.some((s) => !s.includes(":"));
  const v6 = subnets.some((s) => s.includes(":"));
  return [...(v4 ? [{ dst: "0.0.0.0/0" }] : []), ...(v6 ? [{ dst: "::/0" }] : [])];
}

/** The chain around host-local's ranges and routes (JSON values, or the template's placeholders). */
function chain(o: ChainOptions, ranges: unknown, routes: unknown): Record<string, unknown> {
  checkChainOptions(o);
  return {
    cniVersion: "1.0.0",
    name: o.network ?? DEFAULT_NETWORK,
    plugins: [
      {
        type: "bridge",
        bridge: o.bridge ?? DEFAULT_BRIDGE,
        isGateway: true,
        ipMasq: o.ipMasq ?? true,
        hairpinMode: true,
        ...(o.mtu ? { mtu: o.mtu } : {}),
        ipam: { type: "host-local", ranges, routes, ...(o.dataDir ? { dataDir: o.dataDir } : {}) },
      },
      ...(o.bandwidth ?? true ? [{ type: "ebpf-bandwidth", capabilities: { bandwidth: true } }] : []),
    ],
  };
}

export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  const subnets = parsePodCidrs(o.podCidr);
  return chain(o, rangesFor(subnets), routesFor(subnets));
}

// The containerd CNI config template (the CRI plugin's `conf_template`). containerd 1.6 renders it
// with Go's text/template when kubelet sends the node's pod subnets (CRI UpdateRuntimeConfig),
// with `.PodCIDR` (the first subnet), `.PodCIDRRanges` (all of them, in kubelet's order) and
// `.Routes` ("0.0.0.0/0" and/or "::/0"), and writes the result as 10-containerd-net.conflist.
// The same chain as buildConflist: only host-local's ranges and routes are left to containerd.
const RANGES_MARK = "\u0000tscni-ranges";
const ROUTES_MARK = "\u0000tscni-routes";
const GO_RANGES = '[{{range $i, $cidr := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$cidr}}"}]{{end}}]';
const GO_ROUTES = '[{{range $i, $dst := .Routes}}{{if $i}}, {{end}}{"dst": "{{$dst}}"}{{end}}]';

export function buildContainerdTemplate(o: ChainOptions): string {
  const json = `${JSON.stringify(chain(o, RANGES_MARK, ROUTES_MARK), null, 2)}\n`;
  // Text outside actions is copied as is, but "{{" would open one: print it through an action.
  const literal = json.replaceAll("{{", '{{"{{"}}');
  return literal.replace(JSON.stringify(RANGES_MARK), GO_RANGES).replace(JSON.stringify(ROUTES_MARK), GO_ROUTES);
}

/** A template file name libcni would not take for a config if it sat in the CNI config directory. */
export function checkTemplateName(file: string): void {
  if (/\.(conf|conflist|json)$/.test(file)) {
    throw new ConflistError(`template "${file}" must not end in .conf, .conflist or .json (libcni would load it unrendered from a CNI config directory)`);
  }
}
