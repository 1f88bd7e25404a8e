// The rule for /run/tscni and the files in it (kernel/rundir.ts), as a pure function of what
// lstat/fstat found: root's and private is used, root's but looser is tightened, anything else is
// refused with the reason. The effects (mkdir, chmod, open) are in test/integration/run-dir.test.ts.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Found, foundOf, judge } from "../../kernel/rundir";

const dir = (mode: number, uid = 0): Found => ({ type: "directory", uid, mode, nlink: 2 });
const file = (mode: number, uid = 0, nlink = 1): Found => ({ type: "file", uid, mode, nlink });

describe("judge", () => {
  it("uses a root directory nobody else may enter, tightens a looser one", () => {
    expect(judge(dir(0o700), "directory")).toBe("use");
    expect(judge(dir(0o500), "directory")).toBe("use");
    expect(judge(dir(0o755), "directory")).toBe("tighten"); // what earlier builds made
    expect(judge(dir(0o710), "directory")).toBe("tighten");
    expect(judge(dir(0o701), "directory")).toBe("tighten");
  });

  it("uses a root file of 0600 or 0500, tightens 0644", () => {
    expect(judge(file(0o600), "file")).toBe("use");
    expect(judge(file(0o500), "file")).toBe("use"); // the unpacked addon
    expect(judge(file(0o644), "file")).toBe("tighten"); // earlier builds' ebpf-bandwidth.lock
    expect(judge(file(0o604), "file")).toBe("tighten");
  });

  it("refuses what is not root's, whatever its mode", () => {
    expect(judge(dir(0o700, 65534), "directory")).toEqual({ refuse: "is owned by uid 65534, not root" });
    expect(judge(file(0o600, 1000), "file")).toEqual({ refuse: "is owned by uid 1000, not root" });
  });

  it("refuses a symbolic link, and the wrong kind of file", () => {
    const link: Found = { type: "symlink", uid: 0, mode: 0o777, nlink: 1 };
    expect(judge(link, "directory")).toEqual({ refuse: "is a symbolic link" });
    expect(judge(link, "file")).toEqual({ refuse: "is a symbolic link" });
    expect(judge(file(0o700), "directory")).toEqual({ refuse: "is not a directory" });
    expect(judge(dir(0o700), "file")).toEqual({ refuse: "is not a regular file" });
    expect(judge({ type: "other", uid: 0, mode: 0o600, nlink: 1 }, "file")).toEqual({ refuse: "is not a regular file" });
  });

  it("refuses a file with a second name (tightening it would change the other one)", () => {
    expect(judge(file(0o600, 0, 2), "file")).toEqual({ refuse: "has 2 hard links" });
    expect(judge(file(0o600, 0, 0), "file")).toBe("use"); // unlinked while open: still only ours
  });
});

describe("foundOf", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-rundir-unit-"));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("reads the type, owner, permission bits and links from lstat", () => {
    const uid = process.getuid!();
    fs.mkdirSync(path.join(tmp, "d"), { mode: 0o700 });
    fs.chmodSync(path.join(tmp, "d"), 0o751);
    fs.writeFileSync(path.join(tmp, "f"), "");
    fs.chmodSync(path.join(tmp, "f"), 0o640);
    fs.linkSync(path.join(tmp, "f"), path.join(tmp, "f2"));
    fs.symlinkSync("d", path.join(tmp, "l"));
    expect(foundOf(fs.lstatSync(path.join(tmp, "d")))).toEqual({ type: "directory", uid, mode: 0o751, nlink: 2 });
    expect(foundOf(fs.lstatSync(path.join(tmp, "f")))).toEqual({ type: "file", uid, mode: 0o640, nlink: 2 });
    expect(foundOf(fs.lstatSync(path.join(tmp, "l"))).type).toBe("symlink");
    expect(foundOf(fs.lstatSync("/dev/null")).type).toBe("other");
  });
});
