// Black-box CNI conformance harness: drives a directory of plugins only through the process
// interface (environment, stdin, stdout, exit code), the way a runtime does. Checks are data
// (id, title, spec section, run function); the runner gives each check a fresh fixture instance
// (network name, bridge, dataDir, subnet) inside a private "node" network namespace, so nothing
// touches the machine's root namespace and checks cannot leak state into each other.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const CONFORMANCE_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof ALL_VERSIONS)[number];

// ---------------------------------------------------------------------------------------------
// Versions

export function cmpVersion(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
export const atLeast = (v: string, min: string) => cmpVersion(v, min) >= 0;

// ---------------------------------------------------------------------------------------------
// Process invocation

export interface Invocation {
  command: string;
  /** Network configuration as sent on stdin (object → JSON). */
  stdin: object | string;
  env?: Record<string, string | undefined>;
  /** Replace the whole CNI environment (bad-environment checks). PATH is always kept. */
  rawEnv?: Record<string, string>;
}

export interface InvokeResult {
  plugin: string;
  command: string;
  code: number;
  stdout: string;
  stderr: string;
  json: any;
  ms: number;
}

/** Error JSON (spec §5 "Error") if the output looks like one. */
export function errorOf(r: InvokeResult): { code: number; msg: string; details?: string } | undefined {
  const j = r.json;
  if (j && typeof j === "object" && typeof j.code === "number") return j;
  return undefined;
}

export function describe(r: InvokeResult): string {
  const e = errorOf(r);
  const what = e ? `error code ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ""}` : r.stdout.trim().slice(0, 300) || "(no stdout)";
  return `${r.plugin} ${r.command} exit ${r.code}: ${what}${r.stderr.trim() ? ` [stderr: ${r.stderr.trim().slice(0, 200)}]` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Namespaces (private helpers so the harness stands alone; same conventions as test/helpers)

let nsCounter = 0;
const runTag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
export function uniqueName(prefix: string): string {
  nsCounter += 1;
  return `${prefix}${runTag}${nsCounter.toString(36)}`.slice(-15).replace(/^[^a-zA-Z]/, "c");
}

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (!allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout ?? "";
}

export interface Ns {
  name: string;
  path: string;
}
export function addNetns(prefix: string): Ns {
  const name = uniqueName(prefix);
  sh("ip", ["netns", "add", name]);
  sh("ip", ["-n", name, "link", "set", "lo", "up"]);
  return { name, path: `/var/run/netns/${name}` };
}
export function delNetns(ns: Ns): void {
  sh("ip", ["netns", "delete", ns.name], true);
}

/** Addresses (CIDR) on an interface inside a namespace, or undefined if the interface is absent. */
export function addressesIn(ns: Ns, ifname: string): string[] | undefined {
  const r = spawnSync("ip", ["-n", ns.name, "-j", "addr", "show", "dev", ifname], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const links = JSON.parse(r.stdout || "[]") as { addr_info?: { local: string; prefixlen: number }[] }[];
  return (links[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

// ---------------------------------------------------------------------------------------------
// Targets, fixtures, contexts

export interface Target {
  /** "ours", "reference", or any label; selects the expected-differences section. */
  label: string;
  dir: string;
  /** Fixture plugin type → binary name in this dir (e.g. ebpf-bandwidth → bandwidth). */
  aliases: Record<string, string>;
}

export interface FixtureParams {
  network: string;
  bridge: string;
  dataDir: string;
  /** Third octet of 10.x.y.0/24 and the IPv6 /64 index; unique per check within a run. */
  subnetIndex: number;
  rangeStart: number;
  rangeEnd: number;
}

export interface Conflist {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: Record<string, any>[];
}

/** Load a fixture conflist with __PLACEHOLDERS__ substituted (see fixtures/README.md). */
export function instantiateFixture(file: string, p: FixtureParams): Conflist {
  const a = 100 + (p.subnetIndex >> 8);
  const b = p.subnetIndex & 255;
  const text = fs
    .readFileSync(file, "utf8")
    .replaceAll("__NETWORK__", p.network)
    .replaceAll("__BRIDGE__", p.bridge)
    .replaceAll("__DATADIR__", p.dataDir)
    .replaceAll("__SUBNET4__", `10.${a}.${b}.0/24`)
    .replaceAll("__GATEWAY4__", `10.${a}.${b}.1`)
    .replaceAll("__RANGE_START4__", `10.${a}.${b}.${p.rangeStart}`)
    .replaceAll("__RANGE_END4__", `10.${a}.${b}.${p.rangeEnd}`)
    .replaceAll("__SUBNET6__", `fd00:${a.toString(16)}:${b.toString(16)}::/64`);
  return JSON.parse(text) as Conflist;
}

export const fixtureSupportsRange = (file: string) => fs.readFileSync(file, "utf8").includes("__RANGE_END4__");

export class Skip extends Error {}
export class Fail extends Error {}
export const skip = (why: string): never => {
  throw new Skip(why);
};
export const fail = (why: string): never => {
  throw new Fail(why);
};
export function expect(cond: unknown, why: string | (() => string)): asserts cond {
  if (!cond) fail(typeof why === "string" ? why : why());
}

export interface Attachment {
  containerID: string;
  ifname: string;
  ns: Ns;
  args?: string;
  capabilityArgs?: Record<string, unknown>;
  /** Final ADD result of the chain (what libcni caches). */
  result?: any;
}

/** Everything a check may use. One per (target, check); cleaned up after the check. */
export class CheckContext {
  readonly invocations: InvokeResult[] = [];
  private cleanups: (() => void | Promise<void>)[] = [];
  private fixtureParams: FixtureParams | undefined;

  constructor(
    readonly target: Target,
    readonly node: Ns,
    readonly fixtureFile: string,
    readonly chainFixtureFile: string | undefined,
    readonly subnetIndex: number,
    readonly claimed: ReadonlyMap<string, readonly string[]>,
    /** A private bpffs the node sees at /sys/fs/bpf (see Run.setup), if one could be mounted. */
    readonly bpffs?: string,
  ) {}

  onCleanup(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        /* keep cleaning */
      }
    }
  }

  params(rangeStart = 10, rangeEnd = 250): FixtureParams {
    if (!this.fixtureParams) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cni-conf-data-"));
      const bridge = uniqueName("cbr");
      this.onCleanup(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      // The bridge lives in the throwaway node namespace; removed with it, but also here so a
      // long run does not pile up bridges.
      this.onCleanup(() => void sh("ip", ["-n", this.node.name, "link", "del", bridge], true));
      this.fixtureParams = { network: uniqueName("net"), bridge, dataDir, subnetIndex: this.subnetIndex, rangeStart, rangeEnd };
    }
    return { ...this.fixtureParams, rangeStart, rangeEnd };
  }

  /** The main fixture, instantiated for this check at the given cniVersion. */
  fixture(version?: string, range?: [number, number]): Conflist {
    const conf = instantiateFixture(this.fixtureFile, this.params(...(range ?? [10, 250])));
    if (version) conf.cniVersion = version;
    return conf;
  }

  chainFixture(version?: string): Conflist {
    if (!this.chainFixtureFile) skip("no chain fixture given");
    const conf = instantiateFixture(this.chainFixtureFile!, this.params());
    if (version) conf.cniVersion = version;
    return conf;
  }

  binaryFor(type: string): string {
    return path.join(this.target.dir, this.target.aliases[type] ?? type);
  }

  /** Plugin types a conflist needs (plugins and their IPAM), as binary names. */
  typesOf(conf: Conflist): string[] {
    const out = new Set<string>();
    for (const p of conf.plugins) {
      out.add(p.type);
      if (p.ipam?.type) out.add(p.ipam.type);
    }
    return [...out];
  }

  /** Versions every plugin of the conflist claims (VERSION probe, made once per target). */
  versionsFor(conf: Conflist): string[] {
    const lists = this.typesOf(conf).map((t) => this.claimed.get(t) ?? []);
    return ALL_VERSIONS.filter((v) => lists.every((l) => l.includes(v)));
  }

  requireVersion(conf: Conflist, v: string): void {
    const missing = this.typesOf(conf).filter((t) => !(this.claimed.get(t) ?? []).includes(v));
    if (missing.length) skip(`cniVersion ${v} not claimed by ${missing.join(", ")}`);
  }

  requirePlugins(conf: Conflist): void {
    const missing = this.typesOf(conf).filter((t) => !fs.existsSync(this.binaryFor(t)));
    if (missing.length) skip(`plugin(s) not in ${this.target.dir}: ${missing.join(", ")}`);
  }

  /** Files pinned in the run's bpffs (not directories, not the kernel's *.debug files). */
  pins(): string[] {
    if (!this.bpffs) return [];
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (!e.name.endsWith(".debug")) out.push(path.relative(this.bpffs!, p));
      }
    };
    walk(this.bpffs);
    return out.sort();
  }

  /** Pins that appeared since `before` (a leak once every attachment is deleted or GC'd). */
  newPins(before: string[]): string[] {
    return this.pins().filter((p) => !before.includes(p));
  }

  container(): Attachment {
    const ns = addNetns("cctr");
    this.onCleanup(() => delNetns(ns));
    return { containerID: `conf-${uniqueName("c")}`, ifname: "eth0", ns };
  }

  /** Run one plugin binary inside the node namespace, as a runtime would. */
  async invoke(type: string, inv: Invocation): Promise<InvokeResult> {
    const bin = this.binaryFor(type);
    const base: Record<string, string | undefined> = inv.rawEnv ?? {
      CNI_COMMAND: inv.command,
      CNI_PATH: this.target.dir,
      ...inv.env,
    };
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
    // Our shims' fallback mode (the test mode, see test/helpers/mode.ts) travels with the call.
    if (process.env.TSCNI_NO_DAEMON) env.TSCNI_NO_DAEMON = process.env.TSCNI_NO_DAEMON;
    for (const [k, v] of Object.entries(base)) if (v !== undefined && v !== "") env[k] = v;
    const input = typeof inv.stdin === "string" ? inv.stdin : JSON.stringify(inv.stdin);
    const started = performance.now();
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      // `ip netns exec` gives the plugin a fresh /sys for the node namespace, which has no bpffs;
      // on a real node /sys/fs/bpf is one. Bind the run's private bpffs there so pins made by one
      // invocation (ADD) are seen by the next (CHECK, DEL), as on a host.
      const argv = this.bpffs
        ? ["netns", "exec", this.node.name, "sh", "-c", 'mount --bind "$0" /sys/fs/bpf && exec "$@"', this.bpffs, bin]
        : ["netns", "exec", this.node.name, bin];
      const child = spawn("ip", argv, { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", (e) => {
        clearTimeout(timer);
        resolve({ code: -1, stdout, stderr: stderr + String(e) });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.on("error", () => undefined); // plugin may exit without reading stdin
      child.stdin.end(input);
    });
    let json: any;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    const res: InvokeResult = { plugin: this.target.aliases[type] ?? type, command: inv.command, ...r, json, ms: performance.now() - started };
    this.invocations.push(res);
    return res;
  }

  // -------------------------------------------------------------------------------------------
  // Runtime behaviour (spec §3), as libcni does it.

  /** Spec §3 "Deriving request configuration": plugin conf + cniVersion, name, runtimeConfig, prevResult. */
  requestConfig(conf: Conflist, i: number, prevResult: any, att?: Attachment, extra?: Record<string, unknown>): Record<string, unknown> {
    const { capabilities, ...plugin } = conf.plugins[i]!;
    const out: Record<string, unknown> = { ...plugin, cniVersion: conf.cniVersion, name: conf.name };
    if (capabilities && att?.capabilityArgs) {
      const rc: Record<string, unknown> = {};
      for (const [k, on] of Object.entries(capabilities)) if (on && k in att.capabilityArgs) rc[k] = att.capabilityArgs[k];
      if (Object.keys(rc).length) out.runtimeConfig = rc;
    }
    if (prevResult !== undefined) out.prevResult = prevResult;
    return { ...out, ...extra };
  }

  attachmentEnv(att: Attachment, netns = true): Record<string, string | undefined> {
    return { CNI_CONTAINERID: att.containerID, CNI_NETNS: netns ? att.ns.path : undefined, CNI_IFNAME: att.ifname, CNI_ARGS: att.args };
  }

  /** Conflists predate 0.3.0; for older versions only the first plugin runs, as a plain config. */
  pluginsFor(conf: Conflist): number[] {
    const n = atLeast(conf.cniVersion, "0.3.0") ? conf.plugins.length : 1;
    return [...Array(n).keys()];
  }

  /** ADD through the chain; returns the failing invocation, or the final one. Registers a DEL cleanup. */
  async addList(conf: Conflist, att: Attachment): Promise<InvokeResult> {
    this.onCleanup(async () => {
      await this.delList(conf, att, true);
    });
    let prev: any;
    let last: InvokeResult | undefined;
    for (const i of this.pluginsFor(conf)) {
      last = await this.invoke(conf.plugins[i]!.type, { command: "ADD", stdin: this.requestConfig(conf, i, prev, att), env: this.attachmentEnv(att) });
      if (last.code !== 0) return last;
      prev = last.json;
    }
    att.result = prev;
    return last!;
  }

  async checkList(conf: Conflist, att: Attachment): Promise<InvokeResult> {
    let last: InvokeResult | undefined;
    for (const i of this.pluginsFor(conf)) {
      last = await this.invoke(conf.plugins[i]!.type, { command: "CHECK", stdin: this.requestConfig(conf, i, att.result, att), env: this.attachmentEnv(att) });
      if (last.code !== 0) return last;
    }
    return last!;
  }

  /** DEL in reverse order; prevResult (the cached ADD result) only from 0.4.0, as libcni does. */
  async delList(conf: Conflist, att: Attachment, netns = true): Promise<InvokeResult> {
    let last: InvokeResult | undefined;
    const prev = atLeast(conf.cniVersion, "0.4.0") ? att.result : undefined;
    for (const i of this.pluginsFor(conf).reverse()) {
      last = await this.invoke(conf.plugins[i]!.type, { command: "DEL", stdin: this.requestConfig(conf, i, prev, att), env: this.attachmentEnv(att, netns) });
      if (last.code !== 0) return last;
    }
    return last!;
  }

  /** GC every plugin (errors do not stop the chain, spec §3). Returns all invocations. */
  async gcList(conf: Conflist, valid: Attachment[], key = "cni.dev/valid-attachments"): Promise<InvokeResult[]> {
    const out: InvokeResult[] = [];
    const list = valid.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
    for (const i of conf.plugins.keys()) {
      out.push(await this.invoke(conf.plugins[i]!.type, { command: "GC", stdin: this.requestConfig(conf, i, undefined, undefined, { [key]: list }) }));
    }
    return out;
  }

  async statusList(conf: Conflist): Promise<InvokeResult[]> {
    const out: InvokeResult[] = [];
    for (const i of conf.plugins.keys()) {
      const r = await this.invoke(conf.plugins[i]!.type, { command: "STATUS", stdin: this.requestConfig(conf, i, undefined) });
      out.push(r);
      if (r.code !== 0) break;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks and the runner

export interface Check {
  /** Stable id, e.g. "lifecycle.add@1.0.0"; expected differences refer to it. */
  id: string;
  family: string;
  title: string;
  /** Where the requirement comes from, e.g. "SPEC-v1.1.0 §2 DEL". */
  spec: string;
  run(ctx: CheckContext): Promise<void>;
}

export type Status = "pass" | "fail" | "skip" | "unimpl" | "xfail" | "xpass";

export interface CheckResult {
  id: string;
  title: string;
  spec: string;
  status: Status;
  detail: string;
  /** Explanation from expected-differences.json when the outcome was expected to differ. */
  expected?: string;
  ms: number;
}

export interface Expectations {
  /** label → list of {check pattern, reason} */
  differences: Record<string, { check: string; reason: string }[]>;
  aliases: Record<string, Record<string, string>>;
}

export function loadExpectations(file = path.join(CONFORMANCE_DIR, "expected-differences.json")): Expectations {
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as { targets: Record<string, { aliases?: Record<string, string>; differences?: { check: string; reason: string }[] }> };
  const e: Expectations = { differences: {}, aliases: {} };
  for (const [label, t] of Object.entries(raw.targets)) {
    e.differences[label] = t.differences ?? [];
    e.aliases[label] = t.aliases ?? {};
  }
  return e;
}

function globMatch(pattern: string, id: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(id);
}

export function expectedDifference(exp: Expectations, label: string, id: string): string | undefined {
  return (exp.differences[label] ?? []).find((d) => globMatch(d.check, id))?.reason;
}

/** A plugin that answers "not implemented" is work in progress, not a conformance bug. */
const UNIMPLEMENTED = /not implemented/i;

export interface RunOptions {
  target: Target;
  checks: Check[];
  fixture: string;
  chainFixture?: string;
  expectations: Expectations;
  onResult?: (r: CheckResult) => void;
  /**
   * Called once the node namespace (and its bpffs) exist, for targets that run a resident process
   * there (ours: `tscni daemon`, as a DaemonSet would); returns how to stop it.
   */
  startResident?: (nodeName: string, bpffs: string | undefined) => Promise<() => void>;
}

/** VERSION probe of every binary in the fixtures, made once per target. */
export async function probeVersions(target: Target, node: Ns, files: string[], bpffs?: string): Promise<Map<string, string[]>> {
  const types = new Set<string>();
  for (const f of files) {
    const conf = instantiateFixture(f, { network: "probe", bridge: "probe", dataDir: "/nonexistent", subnetIndex: 0, rangeStart: 10, rangeEnd: 250 });
    for (const p of conf.plugins) {
      types.add(p.type);
      if (p.ipam?.type) types.add(p.ipam.type);
    }
  }
  const ctx = new CheckContext(target, node, files[0]!, undefined, 0, new Map(), bpffs);
  const out = new Map<string, string[]>();
  for (const t of types) {
    if (!fs.existsSync(ctx.binaryFor(t))) continue;
    const r = await ctx.invoke(t, { command: "VERSION", stdin: { cniVersion: "0.4.0" } });
    const sv = r.json?.supportedVersions;
    out.set(t, Array.isArray(sv) ? sv.filter((v: unknown): v is string => typeof v === "string") : []);
  }
  return out;
}

export class Run {
  node: Ns | undefined;
  claimed: Map<string, string[]> = new Map();
  bpffs: string | undefined;
  private subnet = 0;
  private stopResident: (() => void) | undefined;

  constructor(readonly opts: RunOptions) {}

  async setup(): Promise<void> {
    this.node = addNetns("cnode");
    // A bpffs instance of our own (never the host's /sys/fs/bpf), dropped with everything pinned
    // in it at teardown. Without one, plugins that pin BPF objects run as on a node without bpffs.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cni-conf-bpffs-"));
    if (spawnSync("mount", ["-t", "bpf", "bpf", dir]).status === 0) this.bpffs = dir;
    else fs.rmdirSync(dir);
    this.stopResident = await this.opts.startResident?.(this.node.name, this.bpffs);
    const files = [this.opts.fixture, ...(this.opts.chainFixture ? [this.opts.chainFixture] : [])];
    this.claimed = await probeVersions(this.opts.target, this.node, files, this.bpffs);
  }

  teardown(): void {
    this.stopResident?.();
    this.stopResident = undefined;
    if (this.node) delNetns(this.node);
    this.node = undefined;
    if (this.bpffs) {
      spawnSync("umount", ["-l", this.bpffs]);
      fs.rmSync(this.bpffs, { recursive: true, force: true });
      this.bpffs = undefined;
    }
  }

  async runCheck(check: Check): Promise<CheckResult> {
    if (!this.node) await this.setup();
    this.subnet += 1;
    const ctx = new CheckContext(this.opts.target, this.node!, this.opts.fixture, this.opts.chainFixture, this.subnet, this.claimed, this.bpffs);
    const started = performance.now();
    let status: Status = "pass";
    let detail = "";
    try {
      await check.run(ctx);
    } catch (e) {
      if (e instanceof Skip) {
        status = "skip";
        detail = e.message;
      } else {
        status = "fail";
        detail = e instanceof Error ? e.message : String(e);
        const unimpl = ctx.invocations.find((r) => r.code !== 0 && UNIMPLEMENTED.test(errorOf(r)?.msg ?? r.stdout));
        if (unimpl) {
          status = "unimpl";
          detail = `${describe(unimpl)} — ${detail}`;
        }
      }
    } finally {
      await ctx.cleanup();
    }
    const expected = expectedDifference(this.opts.expectations, this.opts.target.label, check.id);
    if (expected) {
      if (status === "fail" || status === "unimpl") status = "xfail";
      else if (status === "pass") status = "xpass";
    }
    const res: CheckResult = { id: check.id, title: check.title, spec: check.spec, status, detail, ms: performance.now() - started, ...(expected ? { expected } : {}) };
    this.opts.onResult?.(res);
    return res;
  }

  async runAll(): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    try {
      await this.setup();
      for (const c of this.opts.checks) out.push(await this.runCheck(c));
    } finally {
      this.teardown();
    }
    return out;
  }
}

/** Statuses that make a run red: a real failure, or an expected difference that no longer differs. */
export const isBad = (s: Status, allowUnimplemented: boolean) => s === "fail" || s === "xpass" || (s === "unimpl" && !allowUnimplemented);
