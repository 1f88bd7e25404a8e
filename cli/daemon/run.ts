// One request inside the daemon: the plugin the shim was called as, run by the same dispatcher as
// a plugin process, with the request's environment (never the daemon's) and its output captured.
import { enableInProcessDelegation } from "../../core/delegate";
import { dispatch } from "../../core/skel";
import { isPluginName, loadPlugin } from "../registry";
import { isThisBuild } from "../self";
import type { Request } from "./protocol";

export const servesName = isPluginName;

// This build's plugins found on CNI_PATH (an IPAM, say) run in-process, as in a plugin process.
enableInProcessDelegation(loadPlugin, isThisBuild);

export interface Outcome {
  exit: number;
  stdout: string;
  stderr: string;
}

export async function runRequest(req: Request): Promise<Outcome> {
  const plugin = await loadPlugin(req.argv0);
  if (!plugin) throw new Error(`not a plugin name: ${req.argv0}`);
  // Any plugin this request execs (an IPAM of another build, say) must not call back into this
  // daemon, which is busy with this request until it ends: its shim takes the fallback instead.
  const env = { ...req.env, TSCNI_IN_DAEMON: "1" };
  let stdout = "";
  let stderr = "";
  const exit = await dispatch(plugin, { env, stdin: req.stdin, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { exit, stdout, stderr };
}
