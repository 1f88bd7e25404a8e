// host-local's naming rules for its own files, without I/O: the network-name limit (NAME_MAX),
// the cache file name (kept for normal names, prefix + FNV-1a hash for long ones), and the hash
// itself against published FNV-1a 64 test vectors.
import { describe, expect, it } from "vitest";
import { parseNetConf } from "../../core/config";
import { CniError } from "../../core/errors";
import type { CmdArgs } from "../../core/plugin";
import { parseConfig } from "../../ipam/host-local/config";
import { cacheFileName, checkNetworkName, fnv1a64, legacyReserveTmp, NAME_MAX } from "../../ipam/host-local/side-files";

const bytes = (s: string) => Buffer.byteLength(s);

function thrown(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error("expected an error");
}

describe("host-local network name limit", () => {
  it("accepts up to 255 bytes and refuses 256 with code 7 naming the name and the limit", () => {
    expect(NAME_MAX).toBe(255);
    expect(() => checkNetworkName("n".repeat(255))).not.toThrow();
    const name = "n".repeat(256);
    const e = thrown(() => checkNetworkName(name));
    expect(e.code).toBe(7);
    expect(e.msg).toBe(`invalid "name"`);
    expect(e.details).toBe(`network name "${name}" is 256 bytes; host-local keeps each network in a directory of that name, at most 255 bytes (NAME_MAX)`);
  });

  it("parseConfig (ADD, CHECK, STATUS) refuses a 256-byte name the same way", () => {
    const stdin = Buffer.from(JSON.stringify({ cniVersion: "1.0.0", name: "x".repeat(256), type: "bridge", ipam: { type: "host-local", subnet: "10.0.0.0/24" } }));
    const args: CmdArgs = { command: "ADD", containerID: "c", netns: "/x", ifname: "eth0", args: [], ignoreUnknown: false, path: [], stdin, conf: parseNetConf(stdin, "ADD"), env: {} };
    const e = thrown(() => parseConfig(args));
    expect([e.code, e.msg]).toEqual([7, `invalid "name"`]);
  });
});

describe("host-local side file names", () => {
  it("keeps <network>.cache while <network>.cache.tmp fits in 255 bytes", () => {
    expect(cacheFileName("net")).toBe("net.cache");
    expect(cacheFileName("n".repeat(245))).toBe(`${"n".repeat(245)}.cache`);
  });

  it("uses a 200-byte prefix and the FNV-1a 64 hash beyond that; '~' keeps the two forms apart", () => {
    const long = "n".repeat(246);
    expect(cacheFileName(long)).toBe(`${"n".repeat(200)}~${fnv1a64(long)}.cache`);
    expect(cacheFileName("n".repeat(255))).toBe(`${"n".repeat(200)}~${fnv1a64("n".repeat(255))}.cache`);
    expect(cacheFileName("n".repeat(255))).not.toBe(cacheFileName(`${"n".repeat(254)}m`));
  });

  it("every name of 1 to 255 bytes gets a cache and a cache temp name within NAME_MAX", () => {
    for (let len = 1; len <= 255; len++) {
      const n = "a".repeat(len);
      expect(bytes(`${cacheFileName(n)}.tmp`), `length ${len}`).toBeLessThanOrEqual(255);
    }
  });

  it("names the earlier versions' reserve temp file only where it could exist", () => {
    expect(legacyReserveTmp("net")).toBe("net.reserve.tmp");
    expect(legacyReserveTmp("n".repeat(243))).toBe(`${"n".repeat(243)}.reserve.tmp`);
    expect(legacyReserveTmp("n".repeat(244))).toBeUndefined();
  });

  it("FNV-1a 64 matches the published test vectors", () => {
    expect(fnv1a64("")).toBe("cbf29ce484222325");
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c");
    expect(fnv1a64("foobar")).toBe("85944171f73967e8");
  });
});
