// PROG_LOAD's EAGAIN (the verifier saw a pending signal: a profiler, a timer aimed at a lock wait)
// is repeated, as libbpf does; any other failure, and the fifth EAGAIN, is the caller's.
import { describe, expect, it } from "vitest";
import { BpfError } from "../../kernel/bpf/errors";
import { PROG_LOAD_ATTEMPTS, retryInterrupted } from "../../kernel/bpf/syscall";

const fail = (code: string) => new BpfError(code, 11, "PROG_LOAD", code);

describe("retryInterrupted", () => {
  it("repeats a load interrupted by a signal and returns the fd of the attempt that succeeds", () => {
    let n = 0;
    expect(retryInterrupted(() => (++n < 3 ? (() => { throw fail("EAGAIN"); })() : 42))).toBe(42);
    expect(n).toBe(3);
  });

  it("gives up after PROG_LOAD_ATTEMPTS interrupted tries, with the kernel's error", () => {
    let n = 0;
    expect(() => retryInterrupted(() => { n++; throw fail("EAGAIN"); })).toThrow(/EAGAIN/);
    expect(n).toBe(PROG_LOAD_ATTEMPTS);
  });

  it("never repeats a refusal (EINVAL, EPERM) or an error that is not the kernel's", () => {
    for (const e of [fail("EINVAL"), fail("EPERM"), new Error("x")]) {
      let n = 0;
      expect(() => retryInterrupted(() => { n++; throw e; })).toThrow(e.message);
      expect(n).toBe(1);
    }
  });
});
