// The current call's environment and bounds (core/request.ts) and the tool lookup that reads them
// (kernel/tools.ts): what the lower layers see in place of the process's own environment.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../core/errors";
import {
  DEFAULT_REQUEST_TIMEOUT_MS, DeadlineError, checkpoint, childEnv, currentRequest, inRequest, remainingMs, requestTimeoutMs, scopeFor,
} from "../../core/request";
import { findTool } from "../../kernel/tools";
import { caught } from "../helpers/caught";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("the current call", () => {
  it("takes its timeout from TSCNI_REQUEST_TIMEOUT_MS when that is a positive integer, else 120 s", () => {
    expect(requestTimeoutMs({ TSCNI_REQUEST_TIMEOUT_MS: "2500" })).toBe(2500);
    for (const bad of [undefined, "", "0", "-5", "1e3", "abc", "12345678901"]) expect(requestTimeoutMs({ TSCNI_REQUEST_TIMEOUT_MS: bad })).toBe(DEFAULT_REQUEST_TIMEOUT_MS);
  });

  it("is the dispatcher's scope inside it, and a detached one (no environment) outside", async () => {
    expect(currentRequest().env).toEqual({});
    await inRequest(scopeFor({ PATH: "/x" }), async () => {
      await Promise.resolve();
      expect(currentRequest().env).toEqual({ PATH: "/x" });
    });
    expect(currentRequest().env).toEqual({});
  });

  it("keeps the outer call's deadline and cancellation in a nested call (an IPAM run in-process)", async () => {
    const outerDeadline = Date.now() + 1_000;
    await inRequest(scopeFor({ A: "outer" }, outerDeadline, () => true), async () => {
      await inRequest(scopeFor({ A: "inner" }, Date.now() + 60_000), async () => {
        expect(currentRequest().env.A).toBe("inner");
        expect(currentRequest().deadline).toBe(outerDeadline);
        expect(currentRequest().cancelled()).toBe(true);
      });
    });
  });

  it("checkpoint throws code 11 once the deadline passed, and names what was being waited for", async () => {
    await inRequest(scopeFor({}, Date.now() - 1), async () => {
      expect(remainingMs()).toBe(0);
      const e = caught<DeadlineError>(() => checkpoint("waiting for the lock on /x", "held"));
      expect(e).toBeInstanceOf(DeadlineError);
      expect([e.code, e.reason, e.msg, e.details]).toEqual([Code.TryAgainLater, "deadline", "timed out waiting for the lock on /x", "held"]);
    });
  });

  it("checkpoint throws when the caller went away, before any deadline", async () => {
    await inRequest(scopeFor({}, Date.now() + 60_000, () => true), async () => {
      const e = caught<DeadlineError>(() => checkpoint("running iptables-restore"));
      expect([e.reason, e.msg]).toEqual(["cancelled", "the caller went away running iptables-restore"]);
    });
  });

  it("gives child processes the call's environment without NODE_*", () => {
    expect(childEnv({ PATH: "/p", NODE_OPTIONS: "--x", NODE_EXTRA_CA_CERTS: "/c", CNI_COMMAND: "ADD", UNSET: undefined })).toEqual({ PATH: "/p", CNI_COMMAND: "ADD" });
  });
});

describe("findTool", () => {
  it("looks on the call's PATH first, whatever the process's own PATH is", async () => {
    const a = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-tool-a-"));
    const b = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-tool-b-"));
    dirs.push(a, b);
    for (const d of [a, b]) fs.writeFileSync(path.join(d, "tscni-probe-tool"), "#!/bin/sh\n", { mode: 0o755 });
    await inRequest(scopeFor({ PATH: `${a}:/usr/bin` }), async () => expect(findTool("tscni-probe-tool")).toBe(path.join(a, "tscni-probe-tool")));
    await inRequest(scopeFor({ PATH: `${b}:/usr/bin` }), async () => expect(findTool("tscni-probe-tool")).toBe(path.join(b, "tscni-probe-tool")));
    await inRequest(scopeFor({ PATH: "/nonexistent" }), async () => expect(findTool("tscni-probe-tool")).toBeUndefined());
  });

  it("falls back to the usual sbin directories for a call with a minimal PATH", async () => {
    await inRequest(scopeFor({ PATH: "/nonexistent" }), async () => expect(findTool("sh")).toMatch(/^\/(usr\/)?s?bin\/sh$/));
  });
});
