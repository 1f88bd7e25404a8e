// Error codes are public interface: this table pins every one.
import { describe, expect, it } from "vitest";
import { asCniError, CniError, Code } from "../../core/errors";

describe("error codes", () => {
  it("match the spec, libcni and our documented range", () => {
    expect(Code).toEqual({
      IncompatibleCNIVersion: 1,
      UnsupportedField: 2,
      UnknownContainer: 3,
      InvalidEnvironmentVariables: 4,
      IOFailure: 5,
      DecodingFailure: 6,
      InvalidNetworkConfig: 7,
      InvalidNetNS: 8,
      TryAgainLater: 11,
      PluginNotAvailable: 50,
      LimitedConnectivity: 51,
      Internal: 999,
      Kernel: 100,
      DelegateFailed: 101,
      AddressesExhausted: 102,
      AddressInUse: 103,
      CheckFailed: 104,
      ForeignState: 105,
    });
  });

  it("print in the spec's wire form, details omitted when empty", () => {
    expect(new CniError(7, "bad", "field x").toJSON("1.0.0")).toEqual({ cniVersion: "1.0.0", code: 7, msg: "bad", details: "field x" });
    expect(new CniError(7, "bad").toJSON("0.4.0")).toEqual({ cniVersion: "0.4.0", code: 7, msg: "bad" });
  });

  it("map errno errors to code 100 and anything else to 999", () => {
    expect(asCniError(Object.assign(new Error("nope"), { code: "ENODEV" })).code).toBe(100);
    expect(asCniError(new Error("nope")).code).toBe(999);
    expect(asCniError("string thrown").msg).toBe("string thrown");
    const wrapped = asCniError(new CniError(7, "bad"), "bridge");
    expect([wrapped.code, wrapped.msg]).toEqual([7, "bridge: bad"]);
  });
});
