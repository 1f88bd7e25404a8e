// 64 processes ADD at once into a range with fewer free addresses than that: every success gets
// a distinct address, every other process a clean "exhausted" error, and the store matches the
// results exactly. Run with our plugin alone and mixed half-and-half with the Go reference, whose
// flock on the same `lock` file must serialise against ours.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRoot, NsScope } from "../helpers/netns";
import { modeEnv } from "../helpers/mode";
import { haveReference, ourBinDir, REFERENCE_DIR, usingBuiltBinary } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());
beforeAll(() => {
  if (!usingBuiltBinary()) throw new Error("dist/tscni missing: run `npm run build` first");
});

interface Outcome {
  id: string;
  who: "ours" | "ref";
  code: number | null;
  json: any;
}

function addAsync(bin: string, who: Outcome["who"], id: string, config: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], {
      env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: id, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: path.dirname(bin), ...modeEnv() },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.on("error", reject);
    child.on("close", (code) => {
      let json: any;
      try {
        json = JSON.parse(out);
      } catch {
        json = undefined;
      }
      resolve({ id, who, code, json });
    });
    child.stdin.end(config);
  });
}

const FREE = 40; // 10.80.0.10 – 10.80.0.49

async function race(mixed: boolean) {
  const dataDir = scope.tmpdir("hl-race-");
  const config = JSON.stringify({
    cniVersion: "1.0.0", name: "hlnet", type: "bridge",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.80.0.0/24", rangeStart: "10.80.0.10", rangeEnd: "10.80.0.49" }]] },
  });
  const ours = path.join(ourBinDir(), "host-local");
  const ref = path.join(REFERENCE_DIR, "host-local");
  const results = await Promise.all(
    Array.from({ length: 64 }, (_, i) => {
      const who = mixed && i % 2 === 1 ? "ref" : "ours";
      return addAsync(who === "ref" ? ref : ours, who, `race${i}`, config);
    }),
  );
  const ok = results.filter((r) => r.code === 0);
  const failed = results.filter((r) => r.code !== 0);
  expect(ok.length).toBe(FREE);
  const addrs = ok.map((r) => r.json.ips[0].address as string);
  expect(new Set(addrs).size).toBe(FREE);
  for (const f of failed) {
    expect(f.code, JSON.stringify(f)).toBe(1);
    expect(f.json.msg, f.who).toMatch(/no IP addresses available/);
    if (f.who === "ours") expect(f.json.code).toBe(102);
  }
  // The store holds exactly the successful reservations, each naming its owner.
  const dir = path.join(dataDir, "hlnet");
  const files = fs.readdirSync(dir).filter((f) => f.startsWith("10.")).sort();
  expect(files).toEqual(addrs.map((a) => a.split("/")[0]).sort());
  for (const r of ok) {
    expect(fs.readFileSync(path.join(dir, r.json.ips[0].address.split("/")[0]), "utf8")).toBe(`${r.id}\r\neth0`);
  }
  return results;
}

describe.skipIf(!isRoot() || !haveReference("host-local"))("host-local concurrency", () => {
  it("64 parallel ADDs of our plugin into 40 free addresses", async () => {
    await race(false);
  }, 180_000);

  it("64 parallel ADDs, half ours and half the Go reference, into 40 free addresses", async () => {
    const results = await race(true);
    // Both plugins won some addresses: the lock really is shared, not merely uncontended.
    expect(results.some((r) => r.who === "ref" && r.code === 0)).toBe(true);
    expect(results.some((r) => r.who === "ours" && r.code === 0)).toBe(true);
  }, 180_000);
});
