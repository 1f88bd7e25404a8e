// resolv.conf → the result's DNS section, line for line as the reference's parseResolvConf:
// nameserver (repeatable), domain (last wins), search and options (appended).
import * as fs from "node:fs";
import { CniError, Code } from "../../core/errors";
import type { DNS } from "../../core/result/types";

export function parseResolvConfText(text: string): DNS {
  const dns: DNS = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line[0] === "#" || line[0] === ";") continue;
    const f = line.split(/\s+/);
    if (f.length < 2) continue;
    switch (f[0]) {
      case "nameserver":
        (dns.nameservers ??= []).push(f[1]!);
        break;
      case "domain":
        dns.domain = f[1]!;
        break;
      case "search":
        (dns.search ??= []).push(...f.slice(1));
        break;
      case "options":
        (dns.options ??= []).push(...f.slice(1));
        break;
    }
  }
  return dns;
}

export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw new CniError(Code.IOFailure, `cannot read "ipam.resolvConf" ${path}`, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  return parseResolvConfText(text);
}
