// The bridge plugin: containers on a Linux bridge in the node namespace through veth pairs,
// compatible with the Go reference (plugins/main/bridge). See docs/bridge.md.
import type { Plugin } from "../../core/plugin";
import { SUPPORTED_VERSIONS } from "../../core/version";
import { cmdAdd } from "./add";
import { cmdCheck } from "./check";
import { cmdDel } from "./del";
import { cmdGC, cmdStatus } from "./gc";

export const plugin: Plugin = {
  name: "bridge",
  supportedVersions: SUPPORTED_VERSIONS,
  add: cmdAdd,
  del: cmdDel,
  check: cmdCheck,
  gc: cmdGC,
  status: cmdStatus,
};
