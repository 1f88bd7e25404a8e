// Attachment and network directory names (plugins/ebpf-bandwidth/names.ts): injective, free of
// dots (bpffs refuses them), at most 255 bytes, and unchanged for the names runtimes usually send.
import { describe, expect, it } from "vitest";
import { attachmentName, attachmentPath, displayName, legacyAttachmentName, networkDirName } from "../../plugins/ebpf-bandwidth/names";

const ID_CHARS = "abcXYZ019_.-";
const IF_CHARS = "ab09_.-%@é";

/** Deterministic pseudo-random generator (no flaky seeds). */
function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
}
const pick = (r: () => number, chars: string, n: number) => Array.from({ length: n }, () => chars[Math.floor(r() * chars.length)]).join("");

/** Inverse of an unhashed attachment name: the last '-' separates the parts. */
function parse(name: string): [string, string] {
  const i = name.lastIndexOf("-");
  return [decodeURIComponent(name.slice(0, i)), decodeURIComponent(name.slice(i + 1))];
}

const valid = (name: string) => {
  expect(name).not.toMatch(/[./\0]/);
  expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
};

describe("attachment names", () => {
  it("keep the names runtimes send (hex IDs, eth0) as an earlier version named them", () => {
    const id = "4f1e9c0b2a7d5e3f8c6b1a0d9e8f7c6b5a4d3e2f1c0b9a8d7e6f5c4b3a2d1e0f";
    expect(attachmentName(id, "eth0")).toBe(`${id}-eth0`);
    expect(attachmentName("pod-x", "net1")).toBe("pod-x-net1");
    expect(attachmentName(id, "eth0")).toBe(legacyAttachmentName(id, "eth0"));
  });

  it("tell apart the pair that collided: (pod-x, eth0) and (pod, x-eth0)", () => {
    expect(attachmentName("pod-x", "eth0")).toBe("pod-x-eth0");
    expect(attachmentName("pod", "x-eth0")).toBe("pod-x%2deth0");
  });

  it("escape dots in IDs and interface names (bpffs refuses them)", () => {
    expect(attachmentName("cl0.3.1", "eth0.5")).toBe("cl0%2e3%2e1-eth0%2e5");
    expect(attachmentName("a.b", "eth0")).not.toBe(attachmentName("a_b", "eth0"));
    expect(attachmentName("a.b", "eth0")).not.toBe(attachmentName("a-b", "eth0"));
  });

  it("are injective and invertible over 20,000 random short pairs, near-collisions included", () => {
    const r = rng(7);
    const seen = new Map<string, string>();
    for (let i = 0; i < 20_000; i++) {
      const id = pick(r, "abc", 1) + pick(r, ID_CHARS, Math.floor(r() * 6));
      const ifname = pick(r, IF_CHARS, 1 + Math.floor(r() * 4));
      const name = attachmentName(id, ifname);
      valid(name);
      expect(parse(name)).toEqual([id, ifname]);
      const key = JSON.stringify([id, ifname]);
      const before = seen.get(name);
      if (before !== undefined) expect(before).toBe(key);
      seen.set(name, key);
    }
    expect(seen.size).toBeGreaterThan(10_000);
  });

  it("hash container IDs too long to keep whole, still at most 255 bytes and distinct", () => {
    const base = "a".repeat(300);
    const a = attachmentName(`${base}x`, "eth0");
    const b = attachmentName(`${base}y`, "eth0");
    valid(a);
    valid(b);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^a+%h[0-9a-f]{32}-eth0$/);
    expect(attachmentName("z".repeat(2048), "a".repeat(15))).toHaveLength(209 + 1 + 15);
  });

  it("switch to the hashed form exactly where the escaped ID stops fitting (209 bytes)", () => {
    expect(attachmentName("a".repeat(209), "eth0")).toBe(`${"a".repeat(209)}-eth0`);
    expect(attachmentName("a".repeat(210), "eth0")).toMatch(/%h/);
    // An escape is never split by the cut: the prefix ends before a partial %HH.
    const dotted = attachmentName(`${"a".repeat(174)}${".".repeat(20)}`, "eth0");
    expect(dotted.split("%h")[0]).toMatch(/^a{174}(%2e)*$/);
  });

  it("keep the worst-case interface name (15 bytes, all escaped) within 255 bytes", () => {
    valid(attachmentName("x".repeat(5000), "é".repeat(7) + "-"));
    valid(attachmentName("x".repeat(209), "-".repeat(15)));
  });
});

describe("network directory names", () => {
  it("keep spec names without dots, escape dots, hash what does not fit", () => {
    expect(networkDirName("k8s-pod-network")).toBe("k8s-pod-network");
    expect(networkDirName("net_1")).toBe("net_1");
    expect(networkDirName("x.n2")).toBe("x%2en2");
    const long = networkDirName("n".repeat(300));
    valid(long);
    expect(long).toMatch(/^n+%h[0-9a-f]{32}$/);
    expect(networkDirName("n".repeat(255))).toBe("n".repeat(255));
    expect(networkDirName("n".repeat(300))).not.toBe(networkDirName(`${"n".repeat(299)}m`));
  });

  it("join into one path per attachment", () => {
    expect(attachmentPath("/sys/fs/bpf/tscni/", "x.n2", "cl0.3.1", "eth0")).toBe("/sys/fs/bpf/tscni/x%2en2/cl0%2e3%2e1-eth0");
  });

  it("display decoded", () => {
    expect(displayName("cl0%2e3%2e1-eth0")).toBe("cl0.3.1-eth0");
    expect(displayName("x%2en2")).toBe("x.n2");
  });
});
