// loopback: brings `lo` up in the container's network namespace, as the reference plugin does
// (containerd runs it for every pod sandbox). It keeps no state, so DEL, GC and STATUS have
// nothing to do; see docs/cri.md for where it differs from the reference (DEL leaves lo up).
import { CniError, Code } from "../../core/errors";
import type { Plugin } from "../../core/plugin";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { bringUp, inspect } from "./lo";
import { loopbackResult, missingAddresses } from "./result";

export const plugin: Plugin = {
  name: "loopback",
  supportedVersions: SUPPORTED_VERSIONS,

  // CNI_IFNAME is ignored, as by the reference: this plugin only ever handles lo.
  async add(a) {
    const addrs = bringUp(a.netns);
    // Chained after another plugin, the result so far passes through unchanged.
    return a.conf.prevResult ?? loopbackResult(a.conf.cniVersion, a.netns, addrs);
  },

  // The reference sets lo down here. Nothing needs undoing: the namespace goes with the sandbox,
  // and processes still inside it (a runtime that DELs before it kills them) keep their localhost.
  async del() {},

  async check(a) {
    const st = inspect(a.netns);
    if (!st.up) throw new CniError(Code.CheckFailed, "loopback interface is down");
    const missing = missingAddresses(a.conf.prevResult, a.netns, st.addrs);
    if (missing.length) throw new CniError(Code.CheckFailed, `lo lacks ${missing.join(", ")}`, "prevResult reports them on lo");
  },

  async gc() {},
  async status() {},
};
