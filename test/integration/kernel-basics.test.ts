// The kernel access primitives in real namespaces: setns round trip, sysctl per namespace, flock.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../core/errors";
import { DeadlineError, inRequest, scopeFor } from "../../core/request";
import { FileLock } from "../../kernel/flock";
import { native } from "../../kernel/native";
import { NetnsError, aliasNetns, currentNetnsPath, isNetnsMissing, netnsId, withNetns } from "../../kernel/netns";
import { sysctlGet, sysctlSet } from "../../kernel/sysctl";
import { caught } from "../helpers/caught";
import { NsScope } from "../helpers/netns";

const scope = new NsScope();
afterEach(() => scope.cleanup());

describe("netns", () => {
  it("enters a namespace and always comes back", () => {
    const node = scope.netns("nd");
    const before = netnsId(currentNetnsPath());
    const inside = withNetns(node.path, () => netnsId(currentNetnsPath()));
    expect(inside).toBe(netnsId(node.path));
    expect(netnsId(currentNetnsPath())).toBe(before);
    expect(() => withNetns(node.path, () => { throw new Error("boom"); })).toThrow("boom");
    expect(netnsId(currentNetnsPath())).toBe(before);
  });

  it("names the errno of a failed syscall in the addon's error (kernel/errno.ts)", () => {
    expect(() => native().setns(-1, 0)).toThrow(expect.objectContaining({ errno: 9, code: "EBADF", syscall: "setns", message: "setns: Bad file descriptor" }));
  });

  it("refuses what is not a network namespace with code 8, telling a missing path from anything else", () => {
    const dir = scope.tmpdir();
    const file = path.join(dir, "not-a-netns");
    fs.writeFileSync(file, "x");
    const refusal = (p: string) => {
      try {
        withNetns(p, () => 0);
      } catch (e) {
        expect(e).toBeInstanceOf(NetnsError);
        const n = e as NetnsError;
        return [n.code, n.reason, n.msg, isNetnsMissing(e)];
      }
      throw new Error(`${p} was entered`);
    };
    expect(refusal(path.join(dir, "missing"))).toEqual([Code.InvalidNetNS, "missing", `netns "${dir}/missing" does not exist`, true]);
    // A file on another file system, a directory, and a namespace of another kind (nsfs, but setns refuses it as CLONE_NEWNET).
    expect(refusal(file)).toEqual([Code.InvalidNetNS, "not-a-namespace", `"${file}" is not a network namespace`, false]);
    expect(refusal(dir)).toEqual([Code.InvalidNetNS, "not-a-namespace", `"${dir}" is not a network namespace`, false]);
    expect(refusal("/proc/self/ns/mnt")).toEqual([Code.InvalidNetNS, "not-a-namespace", `"/proc/self/ns/mnt" is not a network namespace`, false]);
  });

  it("accepts a namespace by its nsfs bind mount, by /proc/<pid>/ns/net, and through the daemon's descriptor alias (undone after)", () => {
    const node = scope.netns("nd");
    const id = netnsId(node.path);
    expect(withNetns(node.path, () => netnsId(currentNetnsPath()))).toBe(id);
    expect(withNetns(`/proc/${process.pid}/task/${process.pid}/ns/net`, () => netnsId(currentNetnsPath()))).toBe(netnsId(currentNetnsPath()));
    const fd = fs.openSync(node.path, "r");
    try {
      const unalias = aliasNetns("/var/run/netns/only-an-alias", fd);
      let seen: string;
      try {
        seen = withNetns("/var/run/netns/only-an-alias", () => netnsId(currentNetnsPath()));
      } finally {
        unalias();
      }
      expect(seen).toBe(id);
      expect(() => withNetns("/var/run/netns/only-an-alias", () => 0)).toThrow();
    } finally {
      fs.closeSync(fd);
    }
  });

  it("refuses async callbacks", () => {
    const node = scope.netns("nd");
    expect(() => withNetns(node.path, () => Promise.resolve(1))).toThrow(/synchronous/);
  });
});

describe("sysctl", () => {
  it("reads and writes inside one namespace only", () => {
    const a = scope.netns("sa");
    const b = scope.netns("sb");
    sysctlSet("net.ipv4.ip_forward", "1", a.path);
    expect(sysctlGet("net.ipv4.ip_forward", a.path)).toBe("1");
    expect(sysctlGet("net.ipv4.ip_forward", b.path)).toBe("0");
    expect(a.run("cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout.trim()).toBe("1");
  });
});

describe("flock", () => {
  it("excludes another process until released", async () => {
    const dir = scope.tmpdir();
    const file = path.join(dir, "lock");
    const lock = FileLock.acquire(file);
    // flock(1) from util-linux in another process: must fail to get the lock while we hold it.
    const tryLock = () =>
      new Promise<number>((resolve) => spawn("flock", ["-n", file, "true"]).on("exit", (c) => resolve(c ?? -1)));
    expect(await tryLock()).not.toBe(0);
    lock.release();
    expect(await tryLock()).toBe(0);
  });

  /** Another process holding `file` until the returned function (or a timeout) ends it. */
  async function holdElsewhere(file: string, seconds: number) {
    const holder = spawn("flock", [file, "sleep", String(seconds)], { stdio: "ignore", detached: true });
    const release = () => {
      try {
        process.kill(-holder.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    };
    scope.onCleanup(release);
    // Held once flock(1) reports the lock taken: try until a non-blocking attempt fails.
    for (let i = 0; i < 100 && spawnSync("flock", ["-n", file, "true"]).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
    return release;
  }

  it("waits for a held lock no longer than the call's deadline, and says so with code 11", async () => {
    const file = path.join(scope.tmpdir(), "lock");
    await holdElsewhere(file, 10);
    const t0 = Date.now();
    const err = await inRequest(scopeFor({}, Date.now() + 400), async () => caught(() => FileLock.acquire(file)));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as DeadlineError).code).toBe(Code.TryAgainLater);
    expect((err as DeadlineError).msg).toBe(`timed out waiting for the lock on ${file}`);
  });

  it("gets a lock the moment its holder lets go (a blocking wait woken by the kernel, not a poll)", async () => {
    const dir = scope.tmpdir();
    const file = path.join(dir, "lock");
    const stamp = path.join(dir, "released");
    // This thread waits synchronously, so the holder lets go by itself and notes when.
    const holder = spawn("flock", [file, "sh", "-c", `sleep 0.45; date +%s%3N > ${stamp}`], { stdio: "ignore" });
    scope.onCleanup(() => holder.kill("SIGKILL"));
    for (let i = 0; i < 100 && spawnSync("flock", ["-n", file, "true"]).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const lock = await inRequest(scopeFor({}, Date.now() + 5_000), async () => FileLock.acquire(file));
    const got = Date.now();
    lock.release();
    const released = Number(fs.readFileSync(stamp, "utf8"));
    expect(got - released).toBeGreaterThanOrEqual(0);
    expect(got - released).toBeLessThan(40); // a 100 ms poll would be late by up to 100 ms
  });

  it("stops waiting as soon as the call is cancelled (its caller went away)", async () => {
    const file = path.join(scope.tmpdir(), "lock");
    await holdElsewhere(file, 10);
    const t0 = Date.now();
    const err = await inRequest(scopeFor({}, Date.now() + 5_000, () => Date.now() - t0 > 200), async () => caught(() => FileLock.acquire(file)));
    expect((err as DeadlineError).reason).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
