// host-local on a file system with very few inodes (issue #11): our cache and temp files are an
// optimisation, so they must never cost a reservation. Each plugin fills its own tiny tmpfs
// (`nr_inodes=N`) until ADD fails; ours must hold at least as many reservations as the reference.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRoot, NsScope } from "../helpers/netns";
import { execPlugin, haveReference, REFERENCE_DIR, usingBuiltBinary, type ExecResult } from "../helpers/plugin";

const scope = new NsScope();
afterEach(() => scope.cleanup());
beforeAll(() => {
  if (!usingBuiltBinary()) throw new Error("dist/tscni missing: run `npm run build` first");
});
const canRun = isRoot() && haveReference("host-local");

type Who = "ours" | "ref";

/** A fresh tmpfs with `inodes` inodes (its root directory takes one), unmounted at cleanup. */
function tinyFs(inodes: number): string {
  const dir = scope.tmpdir("hl-inodes-");
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=1m,nr_inodes=${inodes}`, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  scope.onCleanup(() => spawnSync("umount", [dir]));
  return dir;
}

function exec(who: Who, cmd: string, dataDir: string, network: string, id: string): ExecResult {
  return execPlugin("host-local", {
    command: cmd, containerID: id, netns: "/x",
    config: { cniVersion: "1.0.0", name: network, type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.90.0.0/24" }]] } },
    ...(who === "ref" ? { binDir: REFERENCE_DIR } : {}),
  });
}

/** ADD round robin over `networks` until every network refuses; the reservations made and the last failure. */
function fill(who: Who, dataDir: string, networks: string[]) {
  let held = 0;
  let failure: ExecResult | undefined;
  const open = new Set(networks);
  for (let i = 0; open.size > 0 && i < 100; i++) {
    const net = networks[i % networks.length]!;
    if (!open.has(net)) continue;
    const r = exec(who, "ADD", dataDir, net, `c${i}`);
    if (r.code === 0) held++;
    else {
      open.delete(net);
      failure = r;
    }
  }
  return { held, failure };
}

const reservations = (dataDir: string, net: string) => fs.readdirSync(path.join(dataDir, net)).filter((f) => f.startsWith("10.")).length;

describe.skipIf(!canRun)("host-local on a file system out of inodes", () => {
  it("holds as many reservations as the reference with 7 inodes (the reference: 3), then fails cleanly and recovers after DEL", () => {
    const ref = fill("ref", tinyFs(7), ["net"]);
    const oursDir = tinyFs(7);
    const ours = fill("ours", oursDir, ["net"]);
    expect(ref.held).toBe(3);
    expect(ours.held).toBeGreaterThanOrEqual(ref.held);
    expect(reservations(oursDir, "net")).toBe(ours.held);
    expect(ours.failure?.json).toMatchObject({ code: 5, details: "ENOSPC" });
    expect(ours.failure?.json.msg).toMatch(/^failed to allocate for range 0: host-local store: cannot create reservation .*\/net\/10\.90\.0\.\d+$/);
    // Freeing one reservation makes room for exactly one more.
    expect(exec("ours", "DEL", oursDir, "net", "c0").code).toBe(0);
    const again = exec("ours", "ADD", oursDir, "net", "again");
    expect(again.code, again.stdout).toBe(0);
    expect(exec("ours", "ADD", oursDir, "net", "more").json?.details).toBe("ENOSPC");
    expect(reservations(oursDir, "net")).toBe(ours.held);
  });

  it("never holds fewer than the reference, for 4 to 16 inodes, one to three networks", () => {
    // Several networks: one network's cache must also give way to another's directory and lock.
    for (const networks of [["net"], ["neta", "netb"], ["neta", "netb", "netc"]]) {
      for (let inodes = 4; inodes <= 16; inodes++) {
        const ref = fill("ref", tinyFs(inodes), networks);
        const ours = fill("ours", tinyFs(inodes), networks);
        expect(ours.held, `${networks.length} network(s), ${inodes} inodes`).toBeGreaterThanOrEqual(ref.held);
      }
    }
  }, 240_000);
});
