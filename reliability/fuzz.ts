// A mutation fuzzer for the configuration path: from valid seed configs (one per plugin, with a
// prevResult), random structural and textual mutations are fed through everything a plugin does
// with stdin before it touches the kernel: JSON decoding, version negotiation, the NetConf
// (prevResult included), CNI_ARGS, and each plugin's own config parser. The property: every input
// is either accepted or refused with a CniError whose code is one of the documented input-error
// codes; never another exception (TypeError, RangeError, a stack overflow), never a hang.
// Pure: no kernel, no files; deterministic for a given seed.
import { parseCniArgs } from "../core/args";
import { parseNetConf } from "../core/config";
import { CniError } from "../core/errors";
import type { CmdArgs, Command } from "../core/plugin";
import { parseConfig as parseHostLocal } from "../ipam/host-local/config";
import { parseBridgeConfig } from "../plugins/bridge/config";
import { parseConfig as parseBandwidth } from "../plugins/ebpf-bandwidth/config";

/** Codes an input problem may produce (README's table): version, unsupported field, env, decoding, config. */
export const INPUT_CODES = new Set([1, 2, 4, 6, 7]);

export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  // xorshift32: fast, deterministic, good enough to pick mutations.
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const PREV = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "cni0", mac: "0a:58:0a:00:00:01" }, { name: "veth1234", mac: "0a:58:0a:00:00:03" }, { name: "eth0", mac: "0a:58:0a:00:00:02", sandbox: "/var/run/netns/x" }],
  ips: [{ address: "10.22.0.5/24", gateway: "10.22.0.1", interface: 2 }, { address: "fd00:22::5/64", interface: 2 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.22.0.1" }],
  dns: { nameservers: ["10.22.0.1"], search: ["svc"] },
};

export const SEEDS: Record<string, Record<string, unknown>> = {
  bridge: {
    cniVersion: "1.1.0", name: "net1", type: "bridge", bridge: "cni0", isGateway: true, isDefaultGateway: false, ipMasq: true,
    ipMasqBackend: "iptables", mtu: 1500, hairpinMode: false, vlan: 0, vlanTrunk: [{ id: 5 }, { minID: 10, maxID: 20 }], macspoofchk: false,
    runtimeConfig: { mac: "0a:58:0a:00:00:09" }, args: { cni: { mac: "0a:58:0a:00:00:0a" } }, dns: { nameservers: ["1.1.1.1"] },
    ipam: { type: "host-local", ranges: [[{ subnet: "10.22.0.0/24", rangeStart: "10.22.0.10", rangeEnd: "10.22.0.200", gateway: "10.22.0.1" }], [{ subnet: "fd00:22::/64" }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: "/var/lib/cni/networks" },
    prevResult: PREV, "cni.dev/valid-attachments": [{ containerID: "c1", ifname: "eth0" }],
  },
  "host-local": {
    cniVersion: "1.1.0", name: "net2", type: "bridge",
    ipam: { type: "host-local", subnet: "10.23.0.0/16", rangeStart: "10.23.1.0", ranges: [[{ subnet: "10.24.0.0/24" }]], routes: [{ dst: "192.168.0.0/16", gw: "10.24.0.1" }], resolvConf: "/etc/resolv.conf" },
    runtimeConfig: { ipRanges: [[{ subnet: "10.25.0.0/24" }]], ips: ["10.25.0.7/24"] }, args: { cni: { ips: ["10.24.0.9"] } },
    prevResult: PREV,
  },
  "ebpf-bandwidth": {
    cniVersion: "1.1.0", name: "net3", type: "ebpf-bandwidth", mode: "htb", pinRoot: "/sys/fs/bpf/tscni", ifbDevice: "tscni-ifb0", queueMs: 5, maxBurstMs: 50, maxQueuedBurstMs: 1000,
    ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 20_000_000, egressBurst: 2_000_000,
    runtimeConfig: { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000 } }, prevResult: PREV,
  },
};

const KEYS = ["cniVersion", "name", "type", "ipam", "ranges", "subnet", "rangeStart", "rangeEnd", "gateway", "routes", "dst", "gw", "mtu", "bridge", "vlan",
  "vlanTrunk", "minID", "maxID", "id", "ingressRate", "ingressBurst", "egressRate", "egressBurst", "mode", "pinRoot", "ifbDevice", "queueMs", "maxBurstMs", "maxQueuedBurstMs",
  "runtimeConfig", "bandwidth", "ipRanges", "ips", "mac", "args", "cni", "prevResult", "interfaces", "address", "interface", "dataDir", "cni.dev/valid-attachments",
  "containerID", "ifname", "dns", "nameservers", "__proto__", "constructor", "toString", "hasOwnProperty"];

const STRINGS = ["", "0", "-1", "1.1.0", "0.4.0", "../../etc", "a/b", "..", ".", "\u0000", "x".repeat(300), "10.0.0.0/33", "300.1.1.1/24", "::/129", "fe80::1%eth0",
  "10.22.0.5", "10.22.0.0/24", "fd00::/8", "0.0.0.0/0", "::ffff:10.0.0.1/120", "host-local", "bridge", "ñ", "\ud800", "0a:58:0a:00:00:01", "ff:ff:ff:ff:ff:ff", "NaN", "1e309",
  "htb", "edt", "police", "auto", "/sys/fs/bpf", "true"];

const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), 1e308, -1e308, Number.MIN_VALUE, 4094, 4095, 65535, 65536, 68, 67];

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * 9);
  switch (k) {
    case 0: return STRINGS[Math.floor(r() * STRINGS.length)];
    case 1: return NUMBERS[Math.floor(r() * NUMBERS.length)];
    case 2: return r() < 0.5;
    case 3: return null;
    case 4: return depth > 3 ? [] : Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1));
    case 5: {
      if (depth > 3) return {};
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 3); i > 0; i--) o[KEYS[Math.floor(r() * KEYS.length)]!] = randomValue(r, depth + 1);
      return o;
    }
    case 6: return Math.floor(r() * 2 ** 32) * (r() < 0.5 ? -1 : 1);
    case 7: return String.fromCharCode(...Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 0x3000)));
    default: return structuredClone(SEEDS.bridge!.ipam);
  }
}

/** Every container (object or array) inside `v`, with a way to set/delete a member. */
function containers(v: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
  if (v && typeof v === "object") {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) containers(x, out);
  }
  return out;
}

function mutateStructure(seed: Record<string, unknown>, r: () => number): Record<string, unknown> {
  const o = structuredClone(seed);
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
    const all = containers(o);
    const c = all[Math.floor(r() * all.length)]!;
    const keys = Object.keys(c);
    const op = Math.floor(r() * 5);
    if (Array.isArray(c)) {
      if (op === 0 || keys.length === 0) c.push(randomValue(r));
      else if (op === 1) c.splice(Math.floor(r() * c.length), 1);
      else c[Math.floor(r() * c.length)] = randomValue(r);
      continue;
    }
    const key = keys[Math.floor(r() * keys.length)];
    if (op === 0 || !key) c[KEYS[Math.floor(r() * KEYS.length)]!] = randomValue(r);
    else if (op === 1) delete c[key];
    else if (op === 2) {
      // Go folds case: a differently-cased duplicate must behave like the original key.
      const flipped = key.replace(/[a-z]/i, (ch) => (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()));
      c[flipped] = randomValue(r);
    } else c[key] = randomValue(r);
  }
  return o;
}

function mutateText(text: string, r: () => number): string {
  const op = Math.floor(r() * 6);
  const at = Math.floor(r() * text.length);
  switch (op) {
    case 0: return text.slice(0, at);
    case 1: return text.slice(0, at) + text.slice(at + 1 + Math.floor(r() * 8));
    case 2: return text.slice(0, at) + "{[\"]},:0-.e\\u\u0000"[Math.floor(r() * 15)] + text.slice(at);
    case 3: return text.replace(/\d+/, () => ["1e309", "-0", "00", "1.0", "99999999999999999999999", "-1", "0x10"][Math.floor(r() * 7)]!);
    case 4: return text.replace(/"[^"]*"/, () => `"${STRINGS[Math.floor(r() * STRINGS.length)]!.replace(/["\\]/g, "")}"`);
    default: return "[".repeat(Math.floor(r() * 5000)) + text;
  }
}

const COMMANDS: Exclude<Command, "VERSION">[] = ["ADD", "DEL", "CHECK", "GC", "STATUS"];
const ARGS = ["", "IgnoreUnknown=1", "IP=10.22.0.9", "IP=999.0.0.1", "MAC=zz", "A=B=C", ";;", "=x", "K8S_POD_NAME=x;FOO=bar", "IgnoreUnknown=true;IP=fd00:22::9,10.22.0.9"];

export interface FuzzOutcome {
  accepted: number;
  refused: Map<number, number>;
  /** Inputs that raised something other than a CniError with an input code. */
  failures: { plugin: string; command: string; input: string; error: string }[];
}

/** Feed one stdin through the whole pre-kernel path of one plugin. */
export function parseAll(plugin: string, command: Exclude<Command, "VERSION">, stdin: Buffer, cniArgs: string): void {
  const conf = parseNetConf(stdin, command);
  const parsed = parseCniArgs(cniArgs);
  const args: CmdArgs = { command, containerID: "c1", netns: "/var/run/netns/x", ifname: "eth0", args: parsed.pairs, ignoreUnknown: parsed.ignoreUnknown, path: ["/opt/cni/bin"], stdin, conf, env: {} };
  if (plugin === "bridge") parseBridgeConfig(conf, args);
  else if (plugin === "host-local") command === "DEL" ? undefined : parseHostLocal(args, command === "ADD");
  else parseBandwidth(conf.raw, conf.runtimeConfig, conf.name);
}

export function fuzz(iterations: number, seed = 1): FuzzOutcome {
  const r = rng(seed);
  const out: FuzzOutcome = { accepted: 0, refused: new Map(), failures: [] };
  const plugins = Object.keys(SEEDS);
  for (let i = 0; i < iterations; i++) {
    const plugin = plugins[i % plugins.length]!;
    const command = COMMANDS[Math.floor(r() * COMMANDS.length)]!;
    let obj = mutateStructure(SEEDS[plugin]!, r);
    let text = JSON.stringify(obj);
    if (r() < 0.3) text = mutateText(text, r);
    const cniArgs = ARGS[Math.floor(r() * ARGS.length)]!;
    try {
      parseAll(plugin, command, Buffer.from(text), cniArgs);
      out.accepted++;
    } catch (e) {
      if (e instanceof CniError && INPUT_CODES.has(e.code)) {
        out.refused.set(e.code, (out.refused.get(e.code) ?? 0) + 1);
      } else {
        out.failures.push({ plugin, command, input: text.slice(0, 2000), error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
      }
    }
    obj = {};
  }
  return out;
}

// CLI: npx tsx reliability/fuzz.ts [iterations] [seed]
if (process.argv[1]?.endsWith("fuzz.ts")) {
  const n = Number(process.argv[2] ?? 200_000);
  const seed = Number(process.argv[3] ?? 1);
  const t = Date.now();
  const o = fuzz(n, seed);
  console.log(`fuzz: ${n} inputs (seed ${seed}) in ${((Date.now() - t) / 1000).toFixed(1)} s: ${o.accepted} accepted, refused by code ${JSON.stringify(Object.fromEntries(o.refused))}, ${o.failures.length} failures`);
  const seen = new Set<string>();
  for (const f of o.failures) {
    const k = f.error.replace(/\d+/g, "N").slice(0, 80);
    if (seen.has(k)) continue;
    seen.add(k);
    console.log(`  ${f.plugin} ${f.command}: ${f.error}\n    input: ${f.input.slice(0, 400)}`);
  }
  process.exitCode = o.failures.length ? 1 : 0;
}
