// core/undo.ts: the rollback of a failed ADD (UndoStack), step labels, and the teardown of DEL/GC
// that attempts every part and reports every failure. Pure; no root.
import { describe, expect, it } from "vitest";
import { CniError } from "../../core/errors";
import { Teardown, UndoStack, step } from "../../core/undo";
import { caught } from "../helpers/caught";

const thrown = (fn: () => unknown) => caught<CniError>(fn);

describe("UndoStack", () => {
  it("undoes newest first, keeps going past a failing undo, and reports it with the original error", async () => {
    const order: string[] = [];
    const e = await new UndoStack()
      .run(async (u) => {
        u.push("a", () => void order.push("a"));
        u.push("b", () => {
          order.push("b");
          throw new Error("b broke");
        });
        u.push("c", async () => void order.push("c"));
        throw new CniError(101, "IPAM failed");
      })
      .catch((x) => x as CniError);
    expect(order).toEqual(["c", "b", "a"]);
    expect([e.code, e.msg, e.details]).toEqual([101, "IPAM failed", "cleanup after the failure also failed: b: b broke"]);
  });

  it("forgets the undos on success", async () => {
    let undone = false;
    const stack = new UndoStack();
    await stack.run(async (u) => u.push("x", () => void (undone = true)));
    expect(await stack.unwind()).toEqual([]);
    expect(undone).toBe(false);
  });

  it("runs synchronously with runSync: errors with an errno become code 100, failed undos are appended", () => {
    const order: string[] = [];
    const e = thrown(() =>
      new UndoStack().runSync((u) => {
        u.push("first", () => void order.push("first"));
        u.push("second", () => {
          throw new Error("busy");
        });
        throw Object.assign(new Error("RTM_NEWQDISC: File exists"), { code: "EEXIST" });
      }),
    );
    expect(order).toEqual(["first"]);
    expect([e.code, e.msg, e.details]).toEqual([100, "RTM_NEWQDISC: File exists", "EEXIST; cleanup after the failure also failed: second: busy"]);
  });

  it("rethrows the original error itself when every undo succeeded", () => {
    const original = Object.assign(new Error("RTM_NEWQDISC: No such file or directory"), { code: "ENOENT" });
    expect(thrown(() => new UndoStack().runSync((u) => {
      u.push("fine", () => {});
      throw original;
    }))).toBe(original);
  });

  it("refuses an asynchronous undo in a synchronous unwind, as a failed undo", () => {
    const stack = new UndoStack();
    stack.push("async", async () => {});
    expect(stack.unwindSync()).toEqual(["async: an asynchronous undo in a synchronous unwind"]);
  });

  it("returns the value and keeps nothing to undo after runSync succeeds", () => {
    const stack = new UndoStack();
    expect(stack.runSync((u) => (u.push("x", () => {}), 42))).toBe(42);
    expect(stack.unwindSync()).toEqual([]);
  });
});

describe("step", () => {
  it("labels an error with the step and keeps its code", () => {
    const e = thrown(() => step("create veth pair", () => {
      throw new CniError(104, "differs", "why");
    }));
    expect([e.code, e.msg, e.details]).toEqual([104, "create veth pair: differs", "why"]);
  });
});

describe("Teardown", () => {
  it("attempts every part and reports the first failure with the others in its details", async () => {
    const ran: string[] = [];
    const t = new Teardown();
    t.attempt("one", () => {
      ran.push("one");
      throw new CniError(5, "disk");
    });
    await t.attemptAsync("two", async () => {
      ran.push("two");
      throw Object.assign(new Error("gone"), { code: "ENODEV" });
    });
    t.attempt(undefined, () => void ran.push("three"));
    t.fail(new CniError(100, "link", "EBUSY"), "delete eth0", true);
    expect(ran).toEqual(["one", "two", "three"]);
    const e = thrown(() => t.finish());
    expect([e.code, e.msg, e.details]).toEqual([100, "delete eth0: link", "EBUSY; one: disk; two: gone: ENODEV"]);
  });

  it("throws a single failure as it is, and nothing when every part succeeded", () => {
    const t = new Teardown();
    t.attempt(undefined, () => {
      throw new CniError(11, "later");
    });
    expect(thrown(() => t.finish())).toMatchObject({ code: 11, msg: "later", details: "" });
    const ok = new Teardown();
    ok.attempt("fine", () => {});
    expect(ok.finish()).toBeUndefined();
  });
});
