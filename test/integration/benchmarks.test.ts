// Every benchmark and soak the documents give runs (issue 18): each in its short smoke mode, as a
// child process started with the documented command, must exit 0 and print its tables' headers.
// The numbers are never asserted: this is what keeps a benchmark from breaking silently (a moved
// helper, a renamed option), not a timed test.
//
// The children get this process's environment without NODE_* (vitest's NODE_ENV, this machine's
// NODE_EXTRA_CA_CERTS: the benchmarks expect a runtime's clean environment), VITEST_* and TSCNI_*
// (the test mode's TSCNI_NO_DAEMON: each benchmark chooses its sides itself). Each has a timeout;
// on expiry its process group gets SIGINT (the benchmarks clean up on it), then SIGKILL.
//
// bench-cri runs a private containerd, and the CRI tests and it take one machine-wide lock per
// containerd (test/cri/world.ts: one containerd of ours at a time on a machine). It is started in
// the background first, so that a wait for that lock (CRI test files running in other forks)
// overlaps the other benchmarks instead of adding to them; its timeout allows for that wait. Nothing
// here holds that lock, so it cannot deadlock with them.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveContainerd } from "../cri/containerd";
import { isRoot } from "../helpers/netns";
import { DIST_BIN, REPO, haveReference } from "../helpers/plugin";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skipAll = !isRoot() ? "needs root" : !fs.existsSync(DIST_BIN) ? "dist/tscni not built" : !haveReference("bridge") || !haveReference("bandwidth") ? "reference plugins missing (containernetworking-plugins)" : undefined;

interface Bench {
  name: string;
  /** The documented command, in its smoke mode. */
  argv: string[];
  /** Headers (or other fixed lines) the output must hold. */
  expect: (string | RegExp)[];
  timeoutS: number;
  /** Why it cannot run here, if it cannot. */
  missing?: string | undefined;
}

const BENCHES: Bench[] = [
  {
    name: "start-up",
    argv: ["node", "scripts/bench-startup.mjs", "--smoke"],
    expect: ["| command | p50 ms | p90 ms |", "| Go reference bandwidth (VERSION) |"],
    timeoutS: 60,
  },
  {
    name: "bridge and bandwidth per call",
    argv: ["node", "scripts/bench-bridge.mjs", "--smoke"],
    expect: ["| plugin | VERSION median | ADD median |", "| plugin | ADD median | ADD p90 | DEL median | DEL p90 |", '"attach": "tcx"'],
    timeoutS: 90,
  },
  {
    name: "host-local",
    argv: ["node", "scripts/bench-host-local.mjs", "--smoke"],
    expect: ["| existing allocations | operation | ours median | ours p90 | reference median | reference p90 |", "| 10,000 | DEL after a foreign change"],
    timeoutS: 90,
  },
  {
    name: "bursts and blocked calls",
    argv: ["npx", "tsx", "scripts/bench-burst.ts", "--smoke"],
    expect: ["## Bursts:", "| size | ours ADD wall |", "## One ADD waiting on a held lock", "| lock held | side | call |", "## Failed calls"],
    timeoutS: 150,
  },
  {
    name: "shaping (iperf3, ours and the reference)",
    argv: ["npx", "tsx", "scripts/bench-bandwidth.ts", "--smoke", "--repeat", "2"],
    expect: [/^\| cap \|.*\| plugin \|/m, "reference bandwidth", "ebpf-bandwidth", "each column the median of 2 runs"],
    timeoutS: 120,
    missing: have("iperf3") ? undefined : "iperf3 missing",
  },
  {
    name: "RTNL during bursts of shaped ADDs",
    argv: ["npx", "tsx", "scripts/bench-attach.ts", "--smoke"],
    expect: ["## ADD bursts:", "## DEL bursts:", "| plugins | burst wall | slowest chain | dump p50 |", '"attach": "tcx"', '"attach": "clsact"', "| reference bridge + bandwidth |", "## Failed calls"],
    timeoutS: 120,
    missing: have("gcc") ? undefined : "gcc missing",
  },
  {
    name: "daemon soak",
    argv: ["npx", "tsx", "reliability/daemon-soak.ts", "20"],
    expect: ["| pairs | seconds | open fds | RSS MiB |", /^left behind: \d+ reservations/m],
    timeoutS: 90,
  },
  {
    name: "concurrency soak",
    argv: ["npx", "tsx", "reliability/soak.ts", "--seconds", "3", "--workers", "2"],
    expect: [/^soak: 2 workers for 3 s/m, "violations: "],
    timeoutS: 120,
    missing: have("nft") ? undefined : "nft missing",
  },
];

const CRI: Bench = {
  name: "pod sandboxes through containerd's CRI",
  argv: ["npx", "tsx", "scripts/bench-cri.ts", "--smoke"],
  expect: ["| plugins | pods | Run p50 | Run p90 |", "| plugins | direction | goodput Mbit/s per flow |", "| ours (daemon) |", "| ours (exec) |", "| reference |"],
  // ≈ 30 s alone, plus the wait for the machine's containerd lock while CRI test files run.
  timeoutS: 300,
  missing: !haveContainerd() ? "containerd / runc not installed (scripts/ci-deps.sh)" : !have("iperf3") || !have("gcc") ? "iperf3 / gcc missing" : undefined,
};

const childEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_|VITEST|TSCNI_)/.test(k))) as NodeJS.ProcessEnv;

interface Outcome {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  seconds: number;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

function run(b: Bench): Promise<Outcome> {
  const t0 = performance.now();
  // Its own process group: a timeout reaches npx, tsx and everything the benchmark started.
  const child = spawn(b.argv[0]!, b.argv.slice(1), { cwd: REPO, env: childEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      /* gone */
    }
  };
  const timers = [
    setTimeout(() => ((timedOut = true), signal("SIGINT")), b.timeoutS * 1000),
    setTimeout(() => signal("SIGKILL"), (b.timeoutS + 20) * 1000),
  ];
  return new Promise((resolve) => {
    child.once("close", (code, sig) => {
      for (const t of timers) clearTimeout(t);
      running.delete(child);
      resolve({ code, signal: sig, timedOut, seconds: (performance.now() - t0) / 1000, stdout, stderr });
    });
    child.once("error", (e) => {
      for (const t of timers) clearTimeout(t);
      running.delete(child);
      resolve({ code: null, signal: null, timedOut, seconds: (performance.now() - t0) / 1000, stdout, stderr: `${stderr}\n${e.message}` });
    });
  });
}

function assertRan(b: Bench, o: Outcome): void {
  const tail = (s: string) => s.split("\n").slice(-40).join("\n");
  const what = `${b.argv.join(" ")}: ${o.timedOut ? `timed out after ${b.timeoutS} s` : `exit ${o.code ?? `signal ${o.signal}`}`} in ${o.seconds.toFixed(1)} s\n--- stdout (end)\n${tail(o.stdout)}\n--- stderr (end)\n${tail(o.stderr)}`;
  expect(o.timedOut, what).toBe(false);
  expect(o.code, what).toBe(0);
  for (const e of b.expect) {
    if (typeof e === "string") expect(o.stdout, `${b.argv.join(" ")}: no "${e}" in its output`).toContain(e);
    else expect(o.stdout, `${b.argv.join(" ")}: nothing matching ${e} in its output`).toMatch(e);
  }
}

describe.skipIf(skipAll !== undefined)(`documented benchmarks, smoke mode${skipAll ? ` (${skipAll})` : ""}`, () => {
  let cri: Promise<Outcome> | undefined;

  beforeAll(() => {
    if (!CRI.missing) cri = run(CRI);
  });
  afterAll(async () => {
    // Only if a test gave up early: the benchmarks' own clean-up runs on SIGINT.
    for (const c of running) {
      try {
        process.kill(-c.pid!, "SIGINT");
      } catch {
        /* gone */
      }
    }
    await cri;
  }, 60_000);

  for (const b of BENCHES) {
    it.skipIf(b.missing !== undefined)(`${b.name}: ${b.argv.join(" ")}${b.missing ? ` (${b.missing})` : ""}`, async () => {
      assertRan(b, await run(b));
    }, (b.timeoutS + 30) * 1000);
  }

  it.skipIf(CRI.missing !== undefined)(`${CRI.name}: ${CRI.argv.join(" ")} (started first, in the background)${CRI.missing ? ` (${CRI.missing})` : ""}`, async () => {
    assertRan(CRI, await cri!);
  }, (CRI.timeoutS + 30) * 1000);
});
