// cli/daemon/netns-usage.ts against the real /proc: a probe process living in a throwaway network
// namespace asks netnsUsers about its own namespace, as the daemon will, while the test adds and
// removes what keeps that namespace alive (a bind mount, a process inside, an open descriptor held
// from another namespace). Root only. Every process started here is killed and every namespace
// deleted in afterEach, also when a test fails.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { buildSync } from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type NetnsVerdict, netnsUsers } from "../../cli/daemon/netns-usage";
import { type Netns, NsScope, isRoot } from "../helpers/netns";

const repo = path.resolve(__dirname, "../..");
const has = (tool: string, ...args: string[]) => spawnSync(tool, args).status === 0;
const canRun = isRoot() && has("nsenter", "--version") && has("ip", "-V");
const scope = new NsScope();
afterEach(() => scope.cleanup());

const WAIT_MS = 20_000;

/** A child whose stdout is read line by line, each line awaited with a deadline; killed at cleanup. */
class Child {
  private lines: string[] = [];
  private waiters: ((line: string | undefined) => void)[] = [];
  private ended = false;
  readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    scope.onCleanup(() => void proc.kill("SIGKILL"));
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    let stderr = "";
    proc.stderr!.on("data", (d) => (stderr += d));
    readline.createInterface({ input: proc.stdout! }).on("line", (l) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(l);
      else this.lines.push(l);
    });
    proc.once("exit", () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
      if (stderr) this.lines.push(`stderr: ${stderr}`);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The next line it prints, within WAIT_MS. */
  async line(): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return queued;
    if (this.ended) throw new Error(`pid ${this.pid} exited`);
    let timer: NodeJS.Timeout | undefined;
    const line = await new Promise<string | undefined>((resolve) => {
      this.waiters.push(resolve);
      timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(resolve), 1);
        resolve(undefined);
      }, WAIT_MS);
    });
    clearTimeout(timer);
    if (line === undefined) throw new Error(`no line from pid ${this.pid}: ${this.lines.join("\n")}`);
    return line;
  }

  /** SIGKILL, then wait (bounded) until it has been reaped, i.e. is gone from /proc. */
  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), WAIT_MS)))]);
    clearTimeout(timer);
    if (!gone) throw new Error(`pid ${this.pid} did not exit`);
  }
}

/** A shell command run inside `netnsPath`; returns once it printed "ready" (it has entered the namespace by then). */
async function inNetns(netnsPath: string, script: string): Promise<Child> {
  const c = new Child(spawn("nsenter", [`--net=${netnsPath}`, "sh", "-c", `${script}; echo ready; exec sleep 600`]));
  expect(await c.line()).toBe("ready");
  return c;
}

// The probe: enters the namespace (nsenter execs node, so the probe is the process that asks), then
// answers one netnsUsers verdict, as JSON, per line read on stdin. Bundled to plain JavaScript
// first: under tsx, a cold transform cache starts an esbuild service child, which would be one more
// process in the namespace.
const PROBE = `
  import * as fs from "node:fs";
  import * as readline from "node:readline";
  import { netnsUsers } from "./cli/daemon/netns-usage.ts";
  const ino = fs.statSync("/proc/self/ns/net").ino;
  console.log(JSON.stringify({ ino }));
  readline.createInterface({ input: process.stdin }).on("line", () => console.log(JSON.stringify(netnsUsers(ino, process.pid))));
`;
let probeDir = "";
const probeFile = () => path.join(probeDir, "probe.mjs");
beforeAll(() => {
  probeDir = fs.mkdtempSync("/tmp/tscni-netns-probe-");
  buildSync({ stdin: { contents: PROBE, resolveDir: repo, loader: "ts" }, bundle: true, platform: "node", format: "esm", outfile: probeFile(), logLevel: "error" });
});
afterAll(() => fs.rmSync(probeDir, { recursive: true, force: true }));

class Probe {
  private constructor(private readonly child: Child, readonly ino: number) {}

  static async start(ns: Netns): Promise<Probe> {
    const child = new Child(spawn("nsenter", [`--net=${ns.path}`, process.execPath, probeFile()]));
    const { ino } = JSON.parse(await child.line()) as { ino: number };
    expect(ino).toBe(fs.statSync(ns.path).ino); // it is in the namespace under test
    return new Probe(child, ino);
  }

  async check(): Promise<NetnsVerdict> {
    this.child.proc.stdin!.write("check\n");
    return JSON.parse(await this.child.line()) as NetnsVerdict;
  }
}

function deleteName(ns: Netns): void {
  expect(spawnSync("ip", ["netns", "delete", ns.name]).status).toBe(0);
}

describe.skipIf(!canRun)("netnsUsers on the real /proc", () => {
  it("the namespace this test runs in (the machine's) is used", () => {
    expect(netnsUsers(fs.statSync("/proc/self/ns/net").ino).used).toBe(true);
  });

  it("bind-mounted, then kept by a process inside, then unused once that process is gone", async () => {
    const ns = scope.netns("nu");
    const probe = await Probe.start(ns);
    expect(await probe.check()).toEqual({ used: true, why: `bind-mounted at /run/netns/${ns.name}` });

    const inside = await inNetns(ns.path, "true");
    deleteName(ns);
    expect(await probe.check()).toEqual({ used: true, why: `process ${inside.pid} is in it`, pid: inside.pid });

    await inside.kill();
    expect(await probe.check()).toEqual({ used: false, why: "no bind mount, process, thread or open descriptor keeps it" });
  });

  it("kept only by a descriptor a process in another namespace holds open, then unused once it closes", async () => {
    const ns = scope.netns("nu");
    const elsewhere = scope.netns("nv");
    const holder = await inNetns(elsewhere.path, `exec 3<${ns.path}`);
    const probe = await Probe.start(ns);
    deleteName(ns);
    expect(await probe.check()).toEqual({ used: true, why: `process ${holder.pid} holds it open`, pid: holder.pid });
    // Asked again, the holder found last time is looked at first; the answer is the same.
    expect(await probe.check()).toEqual({ used: true, why: `process ${holder.pid} holds it open`, pid: holder.pid });

    await holder.kill();
    expect((await probe.check()).used).toBe(false);
  });
});
