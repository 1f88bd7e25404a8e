// The plugins this executable holds, loaded lazily so each call parses only what it runs.
import type { Plugin } from "../core/plugin";

export const PLUGIN_NAMES = ["bridge", "host-local", "ebpf-bandwidth", "loopback"] as const;
export type PluginName = (typeof PLUGIN_NAMES)[number];

const loaders: Record<PluginName, () => Promise<Plugin>> = {
  bridge: () => import("../plugins/bridge/index").then((m) => m.plugin),
  "host-local": () => import("../ipam/host-local/index").then((m) => m.plugin),
  "ebpf-bandwidth": () => import("../plugins/ebpf-bandwidth/index").then((m) => m.plugin),
  loopback: () => import("../plugins/loopback/index").then((m) => m.plugin),
};

export const isPluginName = (n: string): n is PluginName => (PLUGIN_NAMES as readonly string[]).includes(n);

export async function loadPlugin(name: string): Promise<Plugin | undefined> {
  return isPluginName(name) ? loaders[name]() : undefined;
}
