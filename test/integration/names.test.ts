// Names a runtime may legally send (issue #11), through every verb of every plugin: the table in
// names-table.ts holds sets of attachments whose names nearly collide — ("pod-x", "eth0") vs
// ("pod", "x-eth0"), "a.b" / "a_b" / "a-b", networks "net.1" / "net-1" / "net_1", IDs differing
// only in case or past the 200th character, 2,048-character IDs and network names, UTF-8 ifnames.
//
// Each group runs in a throwaway node namespace with a private bpffs and data dir, one anchor
// attachment per network added first (so every shared object — bridge, IFB, tables — exists).
// For every attachment the whole node state is snapshotted (links, tc qdiscs and classes, NAT and
// nft rules, pins, host-local reservations; see names-table.ts) before and after each step:
//   ADD    removes nothing of anyone, and adds exactly this attachment's things (its veth, its
//          reservation "<id>\r\n<ifname>", its classes at its own rates, its pins, its rules);
//   CHECK  passes, also for the neighbours after any other member of the set was removed;
//   GC     (valid list = everything else of that network) removes exactly what the attachment's
//          ADD added, except its interface, which the runtime deletes (here: the link), and the
//          iptables jump of a pod's second interface on one network (see iptablesTwin);
//   DEL    removes exactly what its ADD added — not one line of a neighbour's — and is idempotent.
// A pair is run both ways (A removed while B stays, A added back, B removed while A stays).
// Afterwards the node is back to its state before the set, and after the anchors nothing is left.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Attachment, type ChainOptions, type Conflist, ChainError, addNetworkList, checkNetworkList, delNetworkList } from "../../demo/chain";
import { type Netns, NsScope, isRoot } from "../helpers/netns";
import { REFERENCE_DIR, execPlugin, haveReference, usingBuiltBinary } from "../helpers/plugin";
import { addrs } from "./bridge-helpers";
import { chainBinDir, pinsUnder, privateBpffs } from "./ebpf-bandwidth-helpers";
import {
  type AttDef, CATEGORIES, type Category, type ChainKind, GROUPS, HOST_LOCAL_NETWORKS, HOST_LOCAL_SETS, ID2048A, ID_RE, NET2048A, NET256,
  type NameGroup, type NameSet, type NetDef, type Snapshot, gcNetworkList, label, minus, reservations, snapshot, sortedLines,
  statusNetworkList, validIfname,
} from "./names-table";

const canRun = isRoot() && haveReference("bridge") && haveReference("host-local") && haveReference("static");
const IFB = "tscni-ifb0";

/** Per-set namespaces (pods); the node and anchors live in the group's own scope. */
const scope = new NsScope();
afterEach(() => scope.cleanup());

beforeAll(() => {
  if (!usingBuiltBinary()) throw new Error("run `npm run build` first: the tests drive dist/tscni");
});

describe("the name table itself", () => {
  it("holds only names the project accepts", () => {
    const all = [...GROUPS.flatMap((g) => g.sets.flatMap((s) => s.members))];
    for (const a of all) {
      expect(ID_RE.test(a.id), a.id).toBe(true);
      expect(ID_RE.test(a.net), a.net).toBe(true);
      expect(validIfname(a.ifname), a.ifname).toBe(true);
    }
    expect(ID2048A.length).toBe(2048);
    expect(NET2048A.length).toBe(2048);
    expect(Buffer.byteLength("ééééééé0")).toBe(15);
    for (const g of GROUPS) for (const s of g.sets) for (const m of s.members) expect(g.networks.map((n) => n.name), label(m)).toContain(m.net);
  });
});

// ---------------------------------------------------------------- group set-up

interface Live {
  def: AttDef;
  ns: Netns;
  att: Attachment;
  result: any;
  hostVeth: string;
  ip: string;
  ingressMbit: number;
  egressMbit: number;
  /** What this attachment's ADD added, per category. */
  items: Snapshot;
}

interface Group {
  def: NameGroup;
  node: Netns;
  opts: ChainOptions;
  pinRoot: string;
  dataDir: string;
  nets: Map<string, NetDef>;
  /** The conflist an attachment is ADDed/CHECKed/DELeted with (static IPAM: its own address). */
  list(a: AttDef): Conflist;
  /** The conflist GC and STATUS run with (spec 1.1.0; without what cannot do 1.1.0). */
  gcList(net: string): Conflist;
  /** Categories a GC of the chain cleans (the interface itself is the runtime's; the reference bridge and host-local have no GC). */
  gcCats: Category[];
  live: Live[];
  anchors: Live[];
  /** Every ADD tried, so a failed set can DEL what it left (DEL is idempotent). */
  attempts: { a: AttDef; att: Attachment }[];
  nextRate: number;
  staticAddr: Map<string, string>;
}

/** The chain's bin dir (ebpf-bandwidth-helpers), plus the reference's static IPAM. */
function binDir(s: NsScope, chain: ChainKind): string {
  const dir = chainBinDir(s, chain === "reference" ? "reference" : "ours");
  fs.symlinkSync(path.join(REFERENCE_DIR, "static"), path.join(dir, "static"));
  return dir;
}

function setUpGroup(s: NsScope, def: NameGroup): Group {
  const node = s.netns("nmn");
  const pinRoot = privateBpffs(s);
  const dataDir = s.tmpdir("tscni-namesipam-");
  const opts: ChainOptions = { binDir: binDir(s, def.chain), nodeNetns: node.name };
  const nets = new Map(def.networks.map((n) => [n.name, n]));
  const version = def.chain === "ours" ? "1.1.0" : "1.0.0";
  const staticAddr = new Map<string, string>();
  const bridgeConf = (n: NetDef, a?: AttDef): Record<string, any> => {
    const c: Record<string, any> = { type: "bridge", bridge: n.bridge, isGateway: true };
    if (def.chain !== "reference") {
      if (n.masq) Object.assign(c, { ipMasq: true, ipMasqBackend: n.masq });
      if (def.macspoofchk) c.macspoofchk = true;
    }
    if (def.chain === "ours-static") {
      if (a) c.ipam = { type: "static", addresses: [{ address: staticAddr.get(`${a.net}\n${a.id}\n${a.ifname}`) }] };
    } else {
      c.ipam = { type: "host-local", dataDir, ranges: [[{ subnet: n.subnet }]] };
    }
    return c;
  };
  const bw = { type: "ebpf-bandwidth", capabilities: { bandwidth: true }, pinRoot };
  const g: Group = {
    def, node, opts, pinRoot, dataDir, nets,
    list: (a) => ({ cniVersion: version, name: a.net, plugins: [bridgeConf(nets.get(a.net)!, a), bw] }),
    gcList: (net) => {
      const n = nets.get(net)!;
      // The reference 1.1.1 plugins stop at spec 1.0.0: there GC/STATUS go to ebpf-bandwidth alone,
      // and our bridge runs them without the (reference) static IPAM.
      const plugins = def.chain === "reference" ? [bw] : [bridgeConf(n), bw];
      return { cniVersion: "1.1.0", name: net, plugins };
    },
    gcCats: def.chain === "ours" ? ["tc", "pins", "nat", "spoof", "ipam"] : def.chain === "ours-static" ? ["tc", "pins", "nat", "spoof"] : ["tc", "pins"],
    live: [],
    anchors: [],
    attempts: [],
    nextRate: 0,
    staticAddr,
  };
  // Static addresses, .10 onwards in table order (anchors first).
  const counters = new Map<string, number>();
  for (const a of [...def.networks.map((n) => anchorDef(n.name)), ...def.sets.flatMap((x) => x.members)]) {
    const n = nets.get(a.net)!;
    const i = counters.get(a.net) ?? 10;
    counters.set(a.net, i + 1);
    staticAddr.set(`${a.net}\n${a.id}\n${a.ifname}`, `${n.subnet.split(".").slice(0, 3).join(".")}.${i}/24`);
  }
  return g;
}

const anchorDef = (net: string): AttDef => ({ id: "anchor", ifname: "eth0", net });

const snap = (g: Group) => snapshot(g.node.name, g.pinRoot, g.dataDir);

/** Run one verb of an attachment; a failure names the verb and the attachment. */
function runVerb<T>(what: string, a: AttDef, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = e instanceof ChainError ? e.message : e instanceof Error ? e.message : String(e);
    throw new Error(`${what} ${label(a)}: ${msg.length > 1500 ? `${msg.slice(0, 1500)}…` : msg}`);
  }
}

function expectSame(actual: Snapshot, expected: Snapshot, what: string, cats: Category[] = CATEGORIES, dropLines: (l: string) => boolean = () => false) {
  for (const c of cats) {
    const keep = (l: string[]) => sortedLines(l.filter((x) => !dropLines(x)));
    expect(keep(actual[c]), `${what}: ${c}`).toEqual(keep(expected[c]));
  }
}

const linkNames = (ns: Netns) => (JSON.parse(ns.ip("-j", "link", "show")) as { ifname: string }[]).map((l) => l.ifname);

// ---------------------------------------------------------------- the verbs

/** ADD (and CHECK) one attachment; an anchor may also create the shared objects (bridge, IFB, tables). */
function add(g: Group, a: AttDef, ns: Netns, rate?: { ingressMbit: number; egressMbit: number }, anchor = false): Live {
  const n = g.nets.get(a.net)!;
  const r = rate ? { ingressMbit: rate.ingressMbit, egressMbit: rate.egressMbit } : { ingressMbit: 20 + g.nextRate, egressMbit: 200 + g.nextRate++ };
  const attachment: Attachment = {
    containerID: a.id,
    netns: ns.path,
    ifname: a.ifname,
    capabilityArgs: { bandwidth: { ingressRate: r.ingressMbit * 1e6, ingressBurst: 524_288, egressRate: r.egressMbit * 1e6, egressBurst: 524_288 } },
  };
  const before = snap(g);
  g.attempts.push({ a, att: attachment });
  const result = runVerb("ADD", a, () => addNetworkList(g.opts, g.list(a), attachment));
  const after = snap(g);
  for (const c of CATEGORIES) expect(minus(before[c], after[c]), `ADD ${label(a)} removed ${c} state`).toEqual([]);
  const items = Object.fromEntries(CATEGORIES.map((c) => [c, minus(after[c], before[c])])) as Snapshot;

  // The result and the container side.
  expect(result.interfaces.map((i: any) => i.name), label(a)).toEqual([n.bridge, expect.stringMatching(/^veth[0-9a-f]{8}$/), a.ifname]);
  expect(result.interfaces[2].sandbox).toBe(ns.path);
  const hostVeth: string = result.interfaces[1].name;
  const cidr: string = result.ips[0].address;
  const ip = cidr.split("/")[0]!;
  expect(cidr.startsWith(n.subnet.split(".").slice(0, 3).join(".") + "."), label(a)).toBe(true);
  expect(addrs(ns, a.ifname), label(a)).toEqual([cidr]);

  const live: Live = { def: a, ns, att: attachment, result, hostVeth, ip, ...r, items };
  g.live.push(live);
  if (anchor) {
    check(g, live);
    return live;
  }

  // Exactly this attachment's things were added.
  expect(items.links, `ADD ${label(a)}: links`).toEqual([`${hostVeth} veth master=${n.bridge}`]);
  const ipamLines = g.def.chain === "ours-static" ? [] : [`${a.net}/${ip} = ${JSON.stringify(`${a.id}\r\n${a.ifname}`)}`];
  expect(items.ipam, `ADD ${label(a)}: reservation`).toEqual(ipamLines);
  const rootClass = (dev: string, mbit: number) => new RegExp(`^${dev.replace(/\./g, "\\.")}: class htb \\S+ root rate ${mbit}Mbit ceil ${mbit}Mbit `);
  expect(items.tc.filter((l) => rootClass(hostVeth, r.ingressMbit).test(l)), `ADD ${label(a)}: class on ${hostVeth}`).toHaveLength(1);
  expect(items.tc.filter((l) => rootClass(IFB, r.egressMbit).test(l)), `ADD ${label(a)}: class on ${IFB}`).toHaveLength(1);
  expect(items.tc.every((l) => l.includes(hostVeth) || l.startsWith(`${IFB}: `) || l.includes(` dev ${IFB} `)), `ADD ${label(a)}: tc elsewhere: ${items.tc.join("\n")}`).toBe(true);
  expect(items.pins.length, `ADD ${label(a)}: pins`).toBeGreaterThan(0);
  if (g.def.chain !== "reference" && n.masq === "iptables") {
    expect(items.nat.filter((l) => l.startsWith(`-A POSTROUTING -s ${ip}/32 -m comment --comment `) && /-j CNI-[0-9a-f]{24}$/.test(l)), `ADD ${label(a)}: POSTROUTING jump`).toHaveLength(1);
  } else if (g.def.chain !== "reference" && n.masq === "nftables") {
    expect(items.nat.filter((l) => l.includes(`ip saddr ${ip} ip daddr != ${n.subnet} masquerade comment "`)), `ADD ${label(a)}: nft masquerade rule`).toHaveLength(1);
  } else {
    expect(items.nat).toEqual([]);
  }
  if (g.def.chain !== "reference" && g.def.macspoofchk) {
    expect(items.spoof.filter((l) => l.includes(`iifname "${hostVeth}" jump cni-br-iface-`)), `ADD ${label(a)}: spoof-check jump`).toHaveLength(1);
    expect(items.spoof.filter((l) => l.includes(`ether saddr ${result.interfaces[2].mac} `)), `ADD ${label(a)}: spoof-check MAC`).toHaveLength(1);
  } else {
    expect(items.spoof).toEqual([]);
  }

  check(g, live);
  return live;
}

function check(g: Group, l: Live): void {
  runVerb("CHECK", l.def, () => checkNetworkList(g.opts, g.list(l.def), l.att, l.result));
}

/**
 * The reference's iptables key is (network, containerID): the pod's other interfaces on the same
 * network share the chain its first ADD made (so the chain goes with the last of them), and GC,
 * whose valid list carries no addresses, cannot tell their POSTROUTING jumps apart (a GC'd
 * interface's jump stays until its DEL). bridge.md "Names".
 */
const iptablesTwin = (g: Group, l: Live) =>
  g.def.chain !== "reference" && g.nets.get(l.def.net)!.masq === "iptables" ? g.live.find((x) => x.def.net === l.def.net && x.def.id === l.def.id) : undefined;
const isJumpLine = (x: string) => x.startsWith("-A POSTROUTING ");

/** Remove `l` by DEL, or by GC (valid = everything else of its network) and then the runtime's own clean-up. */
function remove(g: Group, l: Live, via: "DEL" | "GC"): void {
  g.live = g.live.filter((x) => x !== l);
  const before = snap(g);
  const twin = iptablesTwin(g, l);
  const shared = twin ? l.items.nat.filter((x) => !isJumpLine(x)) : [];
  const gone = { ...l.items, nat: minus(l.items.nat, shared) };
  const expected = Object.fromEntries(CATEGORIES.map((c) => [c, minus(before[c], gone[c])])) as Snapshot;
  for (const c of CATEGORIES) expect(minus(l.items[c], before[c]), `${label(l.def)}'s ${c} state vanished before its ${via}`).toEqual([]);
  if (twin) twin.items.nat.push(...shared); // the chain is the twin's now
  if (via === "GC") {
    const valid = g.live.filter((x) => x.def.net === l.def.net).map((x) => ({ containerID: x.def.id, ifname: x.def.ifname }));
    runVerb("GC", l.def, () => gcNetworkList(g.opts, g.gcList(l.def.net), valid));
    const mid = snap(g);
    // GC cleans what is per attachment in this network; the interface stays until the runtime
    // deletes the pod (lines of the host veth left out here), macspoofchk state until DEL.
    const ofVeth = (x: string) => x.includes(l.hostVeth);
    const midExpected = twin ? { ...expected, nat: before.nat } : expected;
    expectSame(mid, midExpected, `GC of ${label(l.def)}`, g.gcCats, ofVeth);
    expectSame(mid, before, `GC of ${label(l.def)} (not GC's)`, CATEGORIES.filter((c) => !g.gcCats.includes(c)), ofVeth);
    // The runtime deletes the pod's interface (the namespace may be shared), then may still DEL.
    l.ns.ip("link", "del", l.def.ifname);
  }
  runVerb("DEL", l.def, () => delNetworkList(g.opts, g.list(l.def), l.att, l.result));
  expectSame(snap(g), expected, `${via} of ${label(l.def)}`);
  expect(linkNames(l.ns), `${label(l.def)} in its namespace`).not.toContain(l.def.ifname);
  // DEL is idempotent (after GC, the DEL above already ran with the interface gone).
  if (via === "DEL") runVerb("DEL again", l.def, () => delNetworkList(g.opts, g.list(l.def), l.att, l.result));
}

/**
 * Between verbs the test yields to the event loop: a set runs tens of seconds of synchronous
 * calls, and vitest's worker must answer its runner within 60 s or reports a timeout.
 */
const breathe = () => new Promise((r) => setImmediate(r));

async function runSet(g: Group, set: NameSet): Promise<void> {
  const pods = new Map<string, Netns>();
  const podOf = (a: AttDef) => {
    const key = a.pod ?? `${a.net}\n${a.id}\n${a.ifname}`;
    if (!pods.has(key)) pods.set(key, scope.netns("nmc"));
    return pods.get(key)!;
  };
  const start = snap(g);
  const firstAttempt = g.attempts.length;
  // On failure, DEL whatever this set added, so the next set starts from the anchors again.
  scope.onCleanup(() => {
    for (const { a, att } of g.attempts.slice(firstAttempt)) {
      try {
        delNetworkList(g.opts, g.list(a), att);
      } catch {
        /* best effort */
      }
      g.live = g.live.filter((x) => x.def !== a);
    }
  });
  const members: Live[] = [];
  for (const a of set.members) {
    members.push(add(g, a, podOf(a)));
    await breathe();
  }
  for (const l of members.slice(0, -1)) check(g, l); // later ADDs left the earlier ones intact
  let n = 0;
  const via = () => (n++ % 2 === 0 ? "GC" : "DEL");
  const removeAndCheck = async (l: Live, rest: Live[]) => {
    remove(g, l, via());
    for (const r of rest) check(g, r);
    await breathe();
  };
  if (members.length === 2) {
    // Both ways: A goes while B stays, A comes back, B goes while A stays.
    const [a, b] = members as [Live, Live];
    await removeAndCheck(a, [b]);
    const again = add(g, a.def, a.ns, a);
    await removeAndCheck(b, [again]);
    await removeAndCheck(again, []);
  } else {
    for (const [i, l] of members.entries()) await removeAndCheck(l, members.slice(i + 1));
  }
  expectSame(snap(g), start, `after "${set.title}" the node is back to its state before`);
}

function finish(g: Group, s: NsScope): void {
  for (const l of g.anchors) {
    runVerb("DEL", l.def, () => delNetworkList(g.opts, g.list(l.def), l.att, l.result));
    expect(linkNames(l.ns), `${label(l.def)} in its namespace`).not.toContain(l.def.ifname);
  }
  const end = snap(g);
  expect(end.links.filter((l) => / veth /.test(l)), "veths left").toEqual([]);
  // The shared IFB may stay, idle (DEL leaves it for the next pod): no class on it, only its root.
  expect(end.tc.filter((l) => l.startsWith(`${IFB}: class `)), "IFB classes left").toEqual([]);
  expect(end.tc.filter((l) => /htb|bfifo|tbf/.test(l) && !l.includes(` dev ${IFB} `)), "htb/bfifo/tbf left").toEqual([]);
  expect(end.pins, "pins left").toEqual([]);
  expect(end.ipam, "reservations left").toEqual([]);
  // Only the lock and last_reserved_ip.N files the reference keeps too (and our cache dir).
  for (const net of fs.existsSync(g.dataDir) ? fs.readdirSync(g.dataDir) : []) {
    if (net === ".tscni-host-local") continue;
    for (const f of fs.readdirSync(path.join(g.dataDir, net))) expect(f, `${net}/${f}`).toMatch(/^(lock|last_reserved_ip\.\d+)$/);
  }
  expect(end.nat.filter((l) => l.includes("CNI-") || l.includes("masquerade comment")), "NAT rules left").toEqual([]);
  expect(end.spoof.filter((l) => l.includes("cni-br-iface") || l.includes("macspoofchk")), "spoof-check rules left").toEqual([]);
  // Container namespaces are the runtime's: the plugins made none, and ours go.
  const mine = [g.node.name, ...g.anchors.map((l) => l.ns.name)];
  s.cleanup();
  for (const x of mine) expect(fs.existsSync(`/var/run/netns/${x}`), x).toBe(false);
}

// ---------------------------------------------------------------- the groups

for (const def of GROUPS) {
  describe.skipIf(!canRun)(def.title, () => {
    const gs = new NsScope();
    let g: Group;
    beforeAll(() => {
      g = setUpGroup(gs, def);
      for (const n of def.networks) {
        const a = anchorDef(n.name);
        g.anchors.push(add(g, a, gs.netns("nma"), undefined, true));
        runVerb("STATUS", a, () => statusNetworkList(g.opts, g.gcList(n.name)));
      }
    }, 120_000);
    afterAll(() => gs.cleanup());

    for (const set of def.sets) it(set.title, async () => runSet(g, set), 120_000);

    it("after the anchors are removed nothing is left", () => finish(g, gs), 60_000);
  });
}

describe.skipIf(!canRun)("a network name past host-local's 255 bytes (our chain)", () => {
  it(`ADD is code 7 with nothing left behind; DEL succeeds`, () => {
    const def = GROUPS[0]!;
    const g = setUpGroup(scope, { ...def, title: "256", macspoofchk: true, networks: [{ name: NET256, bridge: "lbr256", subnet: "10.64.5.0/24", masq: "iptables" }], sets: [] });
    const a: AttDef = { id: "x", ifname: "eth0", net: NET256 };
    const ns = scope.netns("nmc");
    const att: Attachment = { containerID: a.id, netns: ns.path, ifname: a.ifname, capabilityArgs: { bandwidth: { ingressRate: 1e7, ingressBurst: 524_288, egressRate: 1e7, egressBurst: 524_288 } } };
    let err: unknown;
    try {
      addNetworkList(g.opts, g.list(a), att);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).plugin).toBe("bridge");
    expect((err as ChainError).cniError.code).toBe(7);
    const s = snap(g);
    expect(s.links.filter((l) => / veth /.test(l))).toEqual([]);
    expect([s.ipam, s.pins, s.nat.filter((l) => l.includes("CNI-")), s.spoof.filter((l) => l.includes("cni-br-iface"))]).toEqual([[], [], [], []]);
    expect(fs.readdirSync(g.dataDir).filter((f) => f !== ".tscni-host-local")).toEqual([]);
    expect(linkNames(ns)).toEqual(["lo"]);
    delNetworkList(g.opts, g.list(a), att);
    let status: unknown;
    try {
      statusNetworkList(g.opts, g.gcList(NET256));
    } catch (e) {
      status = e;
    }
    expect(status).toBeInstanceOf(ChainError);
    expect((status as ChainError).cniError.code).toBe(7);
  });
});

// ---------------------------------------------------------------- names outside the rules

describe.skipIf(!canRun)("names outside the rules", () => {
  it("are refused by every plugin before anything is touched: code 4 for the ID and ifname, 7 for the network", () => {
    const node = scope.netns("nmr");
    const pod = scope.netns("nmc");
    const dataDir = scope.tmpdir("tscni-namesbad-");
    const pinRoot = privateBpffs(scope);
    const cases: { id?: string; ifname?: string; net?: string; code: number }[] = [
      ...["-a", ".a", "_a", "a b", "a/b", "ä", "a:b"].map((id) => ({ id, code: 4 })),
      ...[".", "..", "a/b", "a:b", "a b", "a\tb", "eth0123456789abc", "éééééééé"].map((ifname) => ({ ifname, code: 4 })),
      ...["-n", ".n", "_n", "n/x", "n x", "n:x", "ñ"].map((net) => ({ net, code: 7 })),
    ];
    const prevResult = { cniVersion: "1.1.0", interfaces: [{ name: "veth0" }], ips: [] };
    const got: string[] = [];
    const want: string[] = [];
    for (const c of cases) {
      const net = c.net ?? "n";
      const configs: Record<string, object> = {
        bridge: { cniVersion: "1.1.0", name: net, type: "bridge", bridge: "nbr0", ipMasq: true, macspoofchk: true, ipam: { type: "host-local", dataDir, subnet: "10.71.0.0/24" } },
        "host-local": { cniVersion: "1.1.0", name: net, type: "bridge", ipam: { type: "host-local", dataDir, subnet: "10.71.0.0/24" } },
        "ebpf-bandwidth": { cniVersion: "1.1.0", name: net, type: "ebpf-bandwidth", pinRoot, ingressRate: 1e7, ingressBurst: 524_288, egressRate: 1e7, egressBurst: 524_288, prevResult },
      };
      for (const [plugin, config] of Object.entries(configs)) {
        for (const command of ["ADD", "DEL"]) {
          const r = execPlugin(plugin, { command, config, node, containerID: c.id ?? "ctr", ifname: c.ifname ?? "eth0", netns: pod.path });
          const what = `${plugin} ${command} ${JSON.stringify(c.id ?? c.ifname ?? c.net)}`;
          got.push(`${what}: ${r.code} ${r.json?.code}`);
          want.push(`${what}: 1 ${c.code}`);
        }
      }
    }
    expect(got).toEqual(want);
    expect(linkNames(node)).toEqual(["lo"]);
    expect(linkNames(pod)).toEqual(["lo"]);
    expect(fs.readdirSync(dataDir)).toEqual([]);
    expect(pinsUnder(pinRoot)).toEqual([]);
    const nf = spawnSync("nsenter", [`--net=${node.path}`, "sh", "-c", "iptables-save -t nat; nft list ruleset"], { encoding: "utf8" }).stdout;
    expect(nf).not.toMatch(/CNI-|cni-br-iface|masquerade/);
  });
});

// ---------------------------------------------------------------- host-local alone

describe.skipIf(!canRun)("host-local alone", () => {
  const conf = (dataDir: string, net: string, subnet = "10.70.0.0/24") => ({ cniVersion: "1.1.0", name: net, type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet }]] } });
  const run = (node: Netns, command: string, config: object, a?: { id: string; ifname: string; netns?: string }) =>
    execPlugin("host-local", { command, config, node, ...(a ? { containerID: a.id, ifname: a.ifname, netns: a.netns ?? "/var/run/netns/none" } : {}) });

  it("every verb for every network name up to 255 bytes; code 7 above, DEL still succeeds", () => {
    const node = scope.netns("nmh");
    const dataDir = scope.tmpdir("tscni-nameshl-");
    const failures: string[] = [];
    for (const net of HOST_LOCAL_NETWORKS) {
      const c = conf(dataDir, net);
      const who = `network of ${net.length} chars "${net.slice(0, 16)}${net.length > 16 ? "…" : ""}"`;
      const a = { id: "ctr", ifname: "eth0" };
      const added = run(node, "ADD", c, a);
      if (added.code !== 0) {
        failures.push(`${who}: ADD ${added.stdout}`);
        continue;
      }
      expect(added.json.ips[0].address, who).toBe("10.70.0.2/24");
      expect(fs.readFileSync(path.join(dataDir, net, "10.70.0.2"), "utf8"), who).toBe("ctr\r\neth0");
      expect(run(node, "CHECK", { ...c, prevResult: added.json }, a).code, who).toBe(0);
      expect(run(node, "STATUS", c).code, who).toBe(0);
      expect(run(node, "GC", { ...c, "cni.dev/valid-attachments": [{ containerID: "ctr", ifname: "eth0" }] }).code, who).toBe(0);
      expect(fs.existsSync(path.join(dataDir, net, "10.70.0.2")), `${who} after a GC naming it`).toBe(true);
      expect(run(node, "DEL", c, a).code, who).toBe(0);
      expect(run(node, "DEL", c, a).code, who).toBe(0);
      expect(reservations(dataDir).filter((l) => l.startsWith(`${net}/`)), who).toEqual([]);
    }
    expect(failures).toEqual([]);

    const c = conf(dataDir, NET256);
    const a = { id: "ctr", ifname: "eth0" };
    const codes = [run(node, "ADD", c, a), run(node, "CHECK", { ...c, prevResult: { cniVersion: "1.1.0", ips: [{ address: "10.70.0.2/24" }] } }, a), run(node, "STATUS", c), run(node, "GC", { ...c, "cni.dev/valid-attachments": [] })].map((r) => r.json?.code);
    expect(codes, "ADD, CHECK, STATUS, GC with a 256-character network").toEqual([7, 7, 7, 7]);
    expect(run(node, "DEL", c, a).code).toBe(0);
    expect(fs.existsSync(path.join(dataDir, NET256))).toBe(false);
  });

  for (const set of HOST_LOCAL_SETS) {
    it(`keeps a neighbour's reservation: ${set.title}`, () => {
      const node = scope.netns("nmh");
      const dataDir = scope.tmpdir("tscni-nameshl-");
      const c = conf(dataDir, "n");
      const file = (ip: string) => path.join(dataDir, "n", ip);
      const members = set.members.map((m, i) => {
        const r = run(node, "ADD", c, { id: m.id, ifname: m.ifname });
        expect(r.code, `${label(m)}: ${r.stdout}`).toBe(0);
        const ip = `10.70.0.${i + 2}`;
        expect(r.json.ips[0].address).toBe(`${ip}/24`);
        expect(fs.readFileSync(file(ip), "utf8")).toBe(`${m.id}\r\n${m.ifname}`);
        return { m, ip, result: r.json };
      });
      const state = () => reservations(dataDir);
      // Remove each in turn (GC, then DEL, alternating); the others keep their file, byte for byte, and pass CHECK.
      members.forEach(({ m, ip }, i) => {
        const before = state();
        const rest = members.slice(i + 1);
        const r = i % 2 === 0
          ? run(node, "GC", { ...c, "cni.dev/valid-attachments": rest.map((x) => ({ containerID: x.m.id, ifname: x.m.ifname })) })
          : run(node, "DEL", c, { id: m.id, ifname: m.ifname });
        expect(r.code, `${i % 2 === 0 ? "GC" : "DEL"} ${label(m)}: ${r.stdout}`).toBe(0);
        expect(state()).toEqual(before.filter((l) => !l.startsWith(`n/${ip} = `)));
        for (const x of rest) expect(run(node, "CHECK", { ...c, prevResult: x.result }, { id: x.m.id, ifname: x.m.ifname }).code, label(x.m)).toBe(0);
        expect(run(node, "DEL", c, { id: m.id, ifname: m.ifname }).code).toBe(0);
      });
      expect(state()).toEqual([]);
      expect(fs.readdirSync(path.join(dataDir, "n")).sort()).toEqual(["last_reserved_ip.0", "lock"]);
    });
  }
});
