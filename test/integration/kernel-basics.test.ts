// The kernel access primitives in real namespaces: setns round trip, sysctl per namespace, flock.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CniError, Code } from "../../core/errors";
import { FileLock } from "../../kernel/flock";
import { native } from "../../kernel/native";
import { currentNetnsPath, netnsId, withNetns } from "../../kernel/netns";
import { sysctlGet, sysctlSet } from "../../kernel/sysctl";
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

  it("refuses a regular file and a missing path with code 8", () => {
    const dir = scope.tmpdir();
    const file = path.join(dir, "not-a-netns");
    fs.writeFileSync(file, "x");
    for (const p of [file, path.join(dir, "missing")]) {
      try {
        withNetns(p, () => 0);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CniError);
        expect((e as CniError).code).toBe(Code.InvalidNetNS);
      }
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
});
