// The bad-input corpus: every case is a mutation of a valid configuration or environment, with
// the outcome the spec (and our README's code table) calls for, per plugin and verb. The runner
// (badinput.ts) executes each as a real process inside a throwaway node namespace and checks:
// exit code, the CNI error JSON on stdout with the expected code, and an unchanged machine.
//
// "ok" is expected where the spec makes a verb succeed on that input: DEL is idempotent and must
// succeed when the namespace is gone or not a namespace, and host-local never opens CNI_NETNS.
export const PLUGIN_NAMES = ["bridge", "host-local", "ebpf-bandwidth"] as const;
export type PluginName = (typeof PLUGIN_NAMES)[number];
export const VERBS = ["ADD", "DEL", "CHECK", "GC", "STATUS"] as const;
export type Verb = (typeof VERBS)[number] | string;

export interface CaseContext {
  network: string;
  dataDir: string;
  pinRoot: string;
  /** A real, empty container namespace (path). */
  netns: string;
  /** A regular file and a directory, for CNI_NETNS cases. */
  regularFile: string;
  directory: string;
  bridge: string;
  subnet: string;
  binDir: string;
}

/** A code, several acceptable codes (the first failing check decides), or success. */
export type Expect = number | readonly number[] | "ok";

export interface BuiltCase {
  stdin: string | Buffer;
  /** Environment overrides; `null` removes the variable. */
  env?: Record<string, string | null>;
  /** CNI_COMMAND to use instead of the verb (unknown-verb cases). */
  command?: string;
}

export interface Case {
  id: string;
  what: string;
  /** Plugins it applies to (default: all). */
  plugins?: readonly PluginName[];
  /** Verbs it applies to (default: all five). */
  verbs?: readonly Verb[];
  build(p: PluginName, c: CaseContext): BuiltCase;
  expect: Expect | ((p: PluginName, verb: Verb) => Expect);
}

const MAC_PREV = "0a:58:0a:00:00:02";

/** A plausible bridge result, as ebpf-bandwidth receives it (never touches the kernel on bad input). */
export function fakePrevResult(c: CaseContext) {
  return {
    cniVersion: "1.1.0",
    interfaces: [
      { name: c.bridge, mac: "0a:58:0a:00:00:01" },
      { name: "vethdeadbeef", mac: "0a:58:0a:00:00:03" },
      { name: "eth0", mac: MAC_PREV, sandbox: c.netns },
    ],
    ips: [{ address: `${c.subnet.replace(/0\/24$/, "5")}/24`, gateway: c.subnet.replace(/0\/24$/, "1"), interface: 2 }],
    dns: {},
  };
}

export function validConfig(p: PluginName, c: CaseContext): Record<string, any> {
  const ipam = { type: "host-local", dataDir: c.dataDir, ranges: [[{ subnet: c.subnet }]] };
  switch (p) {
    case "bridge":
      return { cniVersion: "1.1.0", name: c.network, type: "bridge", bridge: c.bridge, isGateway: true, ipMasq: true, ipam };
    case "host-local":
      return { cniVersion: "1.1.0", name: c.network, type: "bridge", ipam };
    case "ebpf-bandwidth":
      return {
        cniVersion: "1.1.0", name: c.network, type: "ebpf-bandwidth", pinRoot: c.pinRoot,
        ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 10_000_000, egressBurst: 1_000_000,
        prevResult: fakePrevResult(c),
      };
  }
}

/** Set a dotted path ("ipam.ranges") in a deep copy; `undefined` deletes the key. Keys with "/" are taken whole. */
export function mutate(obj: Record<string, any>, dotted: string, value: unknown): Record<string, any> {
  const copy = structuredClone(obj);
  const keys = dotted.includes("/") ? [dotted] : dotted.split(".");
  let o: any = copy;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return copy;
}

const json = (o: unknown) => JSON.stringify(o);
/** Replace one JSON value textually (numbers JSON.stringify cannot express, like 1e309). */
const rawValue = (obj: Record<string, any>, dotted: string, raw: string) => json(mutate(obj, dotted, "@@RAW@@")).replace('"@@RAW@@"', raw);

const cfgCase = (id: string, what: string, plugins: readonly PluginName[], path: string, value: unknown, expect: Case["expect"], verbs?: readonly Verb[]): Case => ({
  id, what, plugins, ...(verbs ? { verbs } : {}), expect,
  build: (p, c) => ({ stdin: json(mutate(validConfig(p, c), path, value)) }),
});

const rawCase = (id: string, what: string, plugins: readonly PluginName[], path: string, raw: string, expect: Case["expect"]): Case => ({
  id, what, plugins, expect, build: (p, c) => ({ stdin: rawValue(validConfig(p, c), path, raw) }),
});

/** A semantic refusal of the range config: ADD/CHECK/GC/STATUS refuse it; DEL needs only the store location and succeeds. */
const rangeRefusal = (p: PluginName, v: Verb): Expect => (v === "DEL" ? "ok" : 7);
/** Same for bridge options validated by every verb. */
const allVerbs7: Case["expect"] = 7;

/**
 * A CNI_NETNS that cannot be entered. DEL takes a missing one as already gone; one that exists but
 * is not a network namespace is code 8 for bridge (as the reference), while ebpf-bandwidth's DEL
 * works from its pins alone and never needs the namespace.
 */
const netnsExpect = (missing: boolean) => (p: PluginName, v: Verb): Expect =>
  v === "DEL" ? (missing || p !== "bridge" ? "ok" : 8) : p === "bridge" && v === "CHECK" ? [8, 104] : 8;

const ALL = PLUGIN_NAMES;
const BR = ["bridge"] as const;
const HL = ["host-local", "bridge"] as const; // bridge passes its ipam on to host-local
const BW = ["ebpf-bandwidth"] as const;

// A deterministic pseudo-random generator (same corpus every run).
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}
const garbage = (n: number, seed: number) => {
  const r = lcg(seed);
  return Buffer.from(Array.from({ length: n }, () => r() & 0xff));
};

export const CASES: Case[] = [
  // ---- stdin that is not a config at all: code 6 for every verb
  { id: "empty-stdin", what: "no stdin at all", expect: 6, build: () => ({ stdin: "" }) },
  ...[0.25, 0.5, 0.75].map<Case>((f) => ({
    id: `truncated-${f * 100}%`, what: `valid config cut at ${f * 100} % of its length`, expect: 6,
    build: (p, c) => { const s = json(validConfig(p, c)); return { stdin: s.slice(0, Math.floor(s.length * f)) }; },
  })),
  { id: "truncated-last-brace", what: "valid config without its final }", expect: 6, build: (p, c) => ({ stdin: json(validConfig(p, c)).slice(0, -1) }) },
  { id: "trailing-garbage", what: "valid config followed by more text", expect: 6, build: (p, c) => ({ stdin: json(validConfig(p, c)) + " }x" }) },
  { id: "json-array", what: "a JSON array", expect: 6, build: () => ({ stdin: "[]" }) },
  { id: "json-null", what: "JSON null", expect: 6, build: () => ({ stdin: "null" }) },
  { id: "json-number", what: "a JSON number", expect: 6, build: () => ({ stdin: "42" }) },
  { id: "json-string", what: "a JSON string", expect: 6, build: () => ({ stdin: '"{}"' }) },
  { id: "binary-garbage", what: "4 KiB of random bytes", expect: 6, build: () => ({ stdin: garbage(4096, 7) }) },
  { id: "deep-nesting", what: "100 000 nested arrays", expect: 6, build: () => ({ stdin: "[".repeat(100_000) + "]".repeat(100_000) }) },
  { id: "deep-nesting-unclosed", what: "1 000 000 unclosed [", expect: 6, build: () => ({ stdin: "[".repeat(1_000_000) }) },
  {
    id: "stdin-16MiB", what: "a valid config padded with 16 MiB of spaces (over the 4 MiB bound)", expect: 6,
    build: (p, c) => ({ stdin: Buffer.concat([Buffer.from(json(validConfig(p, c)).slice(0, -1)), Buffer.alloc(16 << 20, 0x20), Buffer.from("}")]) }),
  },
  {
    id: "stdin-16MiB-string", what: "16 MiB inside one JSON string value", expect: 6,
    build: (p, c) => ({ stdin: json(mutate(validConfig(p, c), "junk", "x".repeat(16 << 20))) }),
  },

  // ---- cniVersion
  cfgCase("version-unknown", 'cniVersion "9.9.9"', ALL, "cniVersion", "9.9.9", 1),
  cfgCase("version-short", 'cniVersion "1.1"', ALL, "cniVersion", "1.1", 1),
  cfgCase("version-number", "cniVersion 110 (a number)", ALL, "cniVersion", 110, 7),
  cfgCase("version-old-for-verb", "cniVersion 0.3.1 with CHECK/GC/STATUS", ALL, "cniVersion", "0.3.1", 1, ["CHECK", "GC", "STATUS"]),

  // ---- name (it becomes a directory for host-local and a pin directory for ebpf-bandwidth)
  cfgCase("name-missing", "no name", ALL, "name", undefined, 7),
  cfgCase("name-number", "name 42", ALL, "name", 42, 7),
  cfgCase("name-traversal", 'name "../../etc"', ALL, "name", "../../etc", 7),
  cfgCase("name-slash", 'name "a/b"', ALL, "name", "a/b", 7),
  cfgCase("name-dotdot", 'name ".."', ALL, "name", "..", 7),
  cfgCase("name-nul", 'name "a\\u0000b"', ALL, "name", "a\u0000b", 7),
  cfgCase("name-unicode", 'name "ñet"', ALL, "name", "ñet", 7),
  {
    id: "name-case-fold", what: 'both "name" (valid) and "Name": "../x" (Go: the last folding key wins)', plugins: ALL, expect: 7,
    build: (p, c) => ({ stdin: json(validConfig(p, c)).replace(/}$/, ',"Name":"../x"}') }),
  },
  {
    id: "name-invalid-utf8", what: "name holding bytes that are not UTF-8", plugins: ALL, expect: 7,
    build: (p, c) => ({ stdin: Buffer.concat([Buffer.from(json(mutate(validConfig(p, c), "name", "@@")).split('"@@"')[0]! + '"'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('"' + json(mutate(validConfig(p, c), "name", "@@")).split('"@@"')[1]!)]) }),
  },

  // ---- type
  cfgCase("type-missing", "no type", ALL, "type", undefined, 7),
  cfgCase("type-number", "type 5", ALL, "type", 5, 7),

  // ---- bridge options: wrong types, huge numbers, bad names
  cfgCase("br-isgateway-string", 'isGateway "yes"', BR, "isGateway", "yes", allVerbs7),
  cfgCase("br-mtu-string", 'mtu "1500"', BR, "mtu", "1500", allVerbs7),
  cfgCase("br-mtu-negative", "mtu -1", BR, "mtu", -1, allVerbs7),
  cfgCase("br-mtu-fraction", "mtu 1500.5", BR, "mtu", 1500.5, allVerbs7),
  cfgCase("br-mtu-2^53", "mtu 2^53+2", BR, "mtu", 2 ** 53 + 2, allVerbs7),
  rawCase("br-mtu-1e309", "mtu 1e309 (Infinity after parsing)", BR, "mtu", "1e309", allVerbs7),
  rawCase("br-mtu-huge-literal", "mtu 99999999999999999999999999999", BR, "mtu", "99999999999999999999999999999", allVerbs7),
  cfgCase("br-name-long", "bridge name of 16 bytes", BR, "bridge", "b".repeat(16), allVerbs7),
  cfgCase("br-name-slash", 'bridge "../br"', BR, "bridge", "../br", allVerbs7),
  cfgCase("br-name-number", "bridge 7", BR, "bridge", 7, allVerbs7),
  cfgCase("br-masq-backend", 'ipMasqBackend "pf"', BR, "ipMasqBackend", "pf", allVerbs7),
  cfgCase("br-vlan-5000", "vlan 5000", BR, "vlan", 5000, allVerbs7),
  cfgCase("br-vlan-negative", "vlan -1", BR, "vlan", -1, allVerbs7),
  cfgCase("br-trunk-bad", 'vlanTrunk [{"minID": 10, "maxID": 5}]', BR, "vlanTrunk", [{ minID: 10, maxID: 5 }], allVerbs7),
  cfgCase("br-mac-bad", 'runtimeConfig.mac "zz:zz"', BR, "runtimeConfig", { mac: "zz:zz" }, allVerbs7),
  cfgCase("br-mac-multicast", 'runtimeConfig.mac "01:00:5e:00:00:01"', BR, "runtimeConfig", { mac: "01:00:5e:00:00:01" }, allVerbs7),
  cfgCase("br-ipam-string", 'ipam "host-local"', BR, "ipam", "host-local", allVerbs7),
  cfgCase("br-ipam-type-path", 'ipam.type "../../bin/sh"', BR, "ipam.type", "../../bin/sh", 101),
  {
    id: "br-hairpin-promisc", what: "hairpinMode and promiscMode together", plugins: BR, verbs: ["ADD"], expect: 7,
    build: (p, c) => ({ stdin: json({ ...validConfig(p, c), hairpinMode: true, promiscMode: true }) }),
  },

  // ---- host-local ranges (directly, and through bridge's delegation)
  cfgCase("hl-ipam-missing", "no ipam", ["host-local"], "ipam", undefined, 7),
  cfgCase("hl-ranges-string", 'ipam.ranges "10.0.0.0/24"', HL, "ipam.ranges", "10.0.0.0/24", rangeRefusal),
  cfgCase("hl-ranges-empty", "ipam.ranges []", HL, "ipam.ranges", [], rangeRefusal),
  cfgCase("hl-rangeset-object", "ipam.ranges [{...}] (a range, not a set)", HL, "ipam.ranges", [{ subnet: "10.9.0.0/24" }], rangeRefusal),
  cfgCase("hl-subnet-number", "subnet 42", HL, "ipam.ranges", [[{ subnet: 42 }]], rangeRefusal),
  ...["10.9.0.0/33", "300.9.0.0/24", "10.9.0.0", "::/129", "foo/24", "", "10.9.0.0/24/1", "10.9.0.0/-1", "1.2.3.4.5/24", "fe80::1%eth0/64", "10.9.0.0/31", "10.9.0.1/32"].map((s) =>
    cfgCase(`hl-cidr-${s.replace(/[^a-z0-9]/gi, "_") || "empty"}`, `invalid or unusable subnet "${s}"`, HL, "ipam.ranges", [[{ subnet: s }]], rangeRefusal),
  ),
  cfgCase("hl-overlap-sets", "range sets 10.9.0.0/16 and 10.9.1.0/24 overlap", HL, "ipam.ranges", [[{ subnet: "10.9.0.0/16" }], [{ subnet: "10.9.1.0/24" }]], rangeRefusal),
  cfgCase("hl-overlap-in-set", "one set holding 10.9.0.0/24 twice", HL, "ipam.ranges", [[{ subnet: "10.9.0.0/24" }, { subnet: "10.9.0.0/25" }]], rangeRefusal),
  cfgCase("hl-family-mix", "one set mixing IPv4 and IPv6", HL, "ipam.ranges", [[{ subnet: "10.9.0.0/24" }, { subnet: "fd00:9::/64" }]], rangeRefusal),
  cfgCase("hl-start-outside", "rangeStart outside the subnet", HL, "ipam.ranges", [[{ subnet: "10.9.0.0/24", rangeStart: "10.8.0.5" }]], rangeRefusal),
  cfgCase("hl-start-after-end", "rangeStart after rangeEnd", HL, "ipam.ranges", [[{ subnet: "10.9.0.0/24", rangeStart: "10.9.0.200", rangeEnd: "10.9.0.100" }]], rangeRefusal),
  cfgCase("hl-gateway-bad", 'gateway "10.9.0.300"', HL, "ipam.ranges", [[{ subnet: "10.9.0.0/24", gateway: "10.9.0.300" }]], rangeRefusal),
  cfgCase("hl-routes-bad", 'routes [{"dst": "nope"}]', HL, "ipam.routes", [{ dst: "nope" }], rangeRefusal),
  cfgCase("hl-datadir-number", "dataDir 42", HL, "ipam.dataDir", 42, 7),
  cfgCase("hl-ipranges-string", 'runtimeConfig.ipRanges "x"', HL, "runtimeConfig", { ipRanges: "x" }, rangeRefusal),
  // bridge itself knows no "IP" argument: without IgnoreUnknown it refuses it (code 4), as the reference does.
  {
    id: "hl-args-ip-bad", what: "CNI_ARGS IP=999.1.1.1", plugins: HL, verbs: ["ADD"], expect: (p) => (p === "bridge" ? 4 : 7),
    build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_ARGS: "IP=999.1.1.1" } }),
  },
  {
    id: "hl-args-ip-outside", what: "CNI_ARGS IP outside every range", plugins: HL, verbs: ["ADD"], expect: (p) => (p === "bridge" ? 4 : 7),
    build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_ARGS: "IP=192.0.2.77" } }),
  },
  {
    id: "hl-args-ip-ignore-unknown", what: "CNI_ARGS IgnoreUnknown=1;IP=192.0.2.77 (outside every range)", plugins: ["host-local"], verbs: ["ADD"], expect: 7,
    build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_ARGS: "IgnoreUnknown=1;IP=192.0.2.77" } }),
  },

  // ---- ebpf-bandwidth: rates, bursts, modes, names, prevResult
  cfgCase("bw-rate-negative", "ingressRate -1000", BW, "ingressRate", -1000, allVerbs7),
  cfgCase("bw-rate-string", 'egressRate "10M"', BW, "egressRate", "10M", allVerbs7),
  cfgCase("bw-rate-fraction", "ingressRate 0.5", BW, "ingressRate", 0.5, allVerbs7),
  rawCase("bw-rate-1e309", "ingressRate 1e309", BW, "ingressRate", "1e309", allVerbs7),
  cfgCase("bw-rate-2^64", "ingressRate 2^64", BW, "ingressRate", 2 ** 64, allVerbs7),
  cfgCase("bw-rate-tiny", "ingressRate 1 bit/s", BW, "ingressRate", 1, allVerbs7),
  cfgCase("bw-burst-huge", "ingressBurst 2^40 bits (over 4 GiB in bytes... and over 2^32 bytes)", BW, "ingressBurst", 2 ** 40 * 64, allVerbs7),
  cfgCase("bw-burst-negative", "egressBurst -1", BW, "egressBurst", -1, allVerbs7),
  cfgCase("bw-rate-only", "ingressRate without ingressBurst", BW, "ingressBurst", undefined, allVerbs7),
  cfgCase("bw-mode-bad", 'mode "turbo"', BW, "mode", "turbo", allVerbs7),
  cfgCase("bw-pinroot-relative", 'pinRoot "bpf/x"', BW, "pinRoot", "bpf/x", allVerbs7),
  cfgCase("bw-ifb-long", "ifbDevice of 16 bytes", BW, "ifbDevice", "i".repeat(16), allVerbs7),
  cfgCase("bw-ifb-slash", 'ifbDevice "../x"', BW, "ifbDevice", "../x", allVerbs7),
  cfgCase("bw-queue-zero", "queueMs 0", BW, "queueMs", 0, allVerbs7),
  cfgCase("bw-queue-huge", "queueMs 10^12", BW, "queueMs", 1e12, allVerbs7),
  {
    id: "bw-runtime-string", what: 'runtimeConfig.bandwidth "fast" (no top-level limits)', plugins: BW, expect: 7,
    build: (p, c) => {
      const o = validConfig(p, c);
      for (const k of ["ingressRate", "ingressBurst", "egressRate", "egressBurst"]) delete o[k];
      return { stdin: json({ ...o, runtimeConfig: { bandwidth: "fast" } }) };
    },
  },
  cfgCase("bw-prev-string", 'prevResult "x"', BW, "prevResult", "x", 6),
  // Go decodes prevResult addresses with net.ParseCIDR: a non-address is a decoding failure (6).
  {
    id: "prev-bad-ip", what: "prevResult with address 999.1.1.1/24", plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK"], expect: 6,
    build: (p, c) => ({ stdin: json({ ...validConfig(p, c), prevResult: { ...fakePrevResult(c), ips: [{ address: "999.1.1.1/24", interface: 2 }] } }) }),
  },
  {
    id: "prev-bad-route", what: 'prevResult with route dst "default"', plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK"], expect: 6,
    build: (p, c) => ({ stdin: json({ ...validConfig(p, c), prevResult: { ...fakePrevResult(c), routes: [{ dst: "default" }] } }) }),
  },
  cfgCase("bw-prev-missing", "no prevResult (not chained)", BW, "prevResult", undefined, (_p, v) => (v === "ADD" || v === "CHECK" ? 7 : "ok")),

  // ---- GC's attachment list
  cfgCase("gc-valid-not-array", '"cni.dev/valid-attachments": "all"', ALL, "cni.dev/valid-attachments", "all", 7, ["GC"]),
  cfgCase("gc-valid-bad-entry", '"cni.dev/valid-attachments": [42]', ALL, "cni.dev/valid-attachments", [42], 7, ["GC"]),

  // ---- environment: unknown verbs, missing and invalid variables
  ...["add", "FOO", "ADD ", "DELETE", "VERSION2", "ADD\nDEL"].map<Case>((cmd) => ({
    id: `verb-${JSON.stringify(cmd).slice(1, -1).replace(/[^A-Za-z0-9]/g, "_")}`, what: `CNI_COMMAND ${JSON.stringify(cmd)}`, verbs: ["ADD"], expect: 4,
    build: (p, c) => ({ stdin: json(validConfig(p, c)), command: cmd }),
  })),
  { id: "env-no-command", what: "CNI_COMMAND unset", verbs: ["ADD"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_COMMAND: null } }) },
  { id: "env-no-containerid", what: "CNI_CONTAINERID unset", verbs: ["ADD", "DEL", "CHECK"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_CONTAINERID: null } }) },
  { id: "env-containerid-traversal", what: 'CNI_CONTAINERID "../x"', verbs: ["ADD", "DEL", "CHECK"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_CONTAINERID: "../x" } }) },
  { id: "env-containerid-space", what: 'CNI_CONTAINERID "a b"', verbs: ["ADD", "DEL", "CHECK"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_CONTAINERID: "a b" } }) },
  { id: "env-no-netns", what: "CNI_NETNS unset", verbs: ["ADD", "CHECK"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_NETNS: null } }) },
  { id: "env-no-ifname", what: "CNI_IFNAME unset", verbs: ["ADD", "DEL", "CHECK"], expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_IFNAME: null } }) },
  ...["e".repeat(16), "a/b", "..", "eth 0", "eth:0", "ethé0123456789x"].map<Case>((n) => ({
    id: `env-ifname-${n.length > 10 ? `len${Buffer.byteLength(n)}` : n.replace(/[^a-z0-9]/gi, "_")}`, what: `CNI_IFNAME ${JSON.stringify(n)}`, verbs: ["ADD", "DEL", "CHECK"], expect: 4,
    build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_IFNAME: n } }),
  })),
  { id: "env-no-path", what: "CNI_PATH unset", expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_PATH: null } }) },
  { id: "env-args-garbage", what: 'CNI_ARGS "garbage"', expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_ARGS: "garbage" } }) },
  { id: "env-args-double-eq", what: 'CNI_ARGS "A=B=C"', expect: 4, build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_ARGS: "A=B=C" } }) },
  {
    // host-local never opens the namespace (as the reference): its ADD would allocate, so it is left out here.
    // bridge CHECK asks the IPAM first (reference order), which here fails first with 104.
    id: "netns-regular-file", what: "CNI_NETNS is a regular file", plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK", "DEL"],
    expect: netnsExpect(false), build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_NETNS: c.regularFile } }),
  },
  {
    id: "netns-directory", what: "CNI_NETNS is a directory", plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK", "DEL"],
    expect: netnsExpect(false), build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_NETNS: c.directory } }),
  },
  {
    id: "netns-missing", what: "CNI_NETNS names no file", plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK", "DEL"],
    expect: netnsExpect(true), build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_NETNS: `${c.directory}/gone` } }),
  },
  {
    id: "netns-proc-self-mnt", what: "CNI_NETNS is another namespace type (/proc/self/ns/mnt)", plugins: ["bridge", "ebpf-bandwidth"], verbs: ["ADD", "CHECK", "DEL"],
    expect: netnsExpect(false), build: (p, c) => ({ stdin: json(validConfig(p, c)), env: { CNI_NETNS: "/proc/self/ns/mnt" } }),
  },
];

/** (case, plugin, verb) triples with their expectation, in corpus order. */
export interface Run {
  c: Case;
  plugin: PluginName;
  verb: Verb;
  expect: Expect;
}

export function expandRuns(cases: readonly Case[] = CASES): Run[] {
  const runs: Run[] = [];
  for (const c of cases) {
    for (const plugin of c.plugins ?? PLUGIN_NAMES) {
      for (const verb of c.verbs ?? VERBS) {
        const expect = typeof c.expect === "function" ? c.expect(plugin, verb) : c.expect;
        runs.push({ c, plugin, verb, expect });
      }
    }
  }
  return runs;
}
