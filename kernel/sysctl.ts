// sysctl read/write in a given network namespace. /proc/sys/net resolves against the namespace of
// the thread that opens the file, so the open+write happens synchronously inside withNetns.
import * as fs from "node:fs";
import { withNetns } from "./netns";

const keyPath = (key: string) => {
  if (!/^[a-zA-Z0-9_.\/-]+$/.test(key) || key.includes("..")) throw new Error(`invalid sysctl key "${key}"`);
  return `/proc/sys/${key.includes("/") ? key : key.replace(/\./g, "/")}`;
};

/** Keys use dots ("net.ipv4.ip_forward") or slashes ("net/ipv6/conf/eth0.100/accept_dad"). */
export function sysctlGet(key: string, nsPath?: string): string {
  const read = () => fs.readFileSync(keyPath(key), "utf8").trim();
  return nsPath ? withNetns(nsPath, read) : read();
}

export function sysctlSet(key: string, value: string, nsPath?: string): void {
  const write = () => fs.writeFileSync(keyPath(key), value);
  if (nsPath) withNetns(nsPath, write);
  else write();
}
