// The cache's content, pure: address → owner of every reservation in a network directory, and
// its serialisation. See disk-store.ts for when a cache is trusted.
/**
 * address → trimmed owner, plus owner → addresses so DEL and the duplicate check need no scan.
 * Serialised as `\0ip\x01owner\0ip\x01owner…\0`: \x01 occurs only after an address, so
 * `\0ip\x01owner\0` can match only a whole entry, and a sealed cache is updated with a few
 * native string edits (the changes since load) instead of re-serialising 10,000 entries.
 */
export class Index {
  readonly byIP = new Map<string, string>();
  private readonly byOwner = new Map<string, string[]>();
  /** Changes since load: [added, ip, owner]. */
  private changes: [boolean, string, string][] = [];

  static parse(body: string): Index | undefined {
    const m = new Index();
    const e = body.split("\0");
    if (e[0] !== "" || e[e.length - 1] !== "") return undefined;
    for (let i = 1; i < e.length - 1; i++) {
      const entry = e[i]!;
      const sep = entry.indexOf("\x01");
      if (sep < 0) return undefined;
      m.set(entry.slice(0, sep), entry.slice(sep + 1));
    }
    m.changes = [];
    return m;
  }

  /** `base` is the body this index was parsed from, if any; undefined when the cache cannot hold an owner. */
  serialise(base: string | undefined): string | undefined {
    const bad = (o: string) => o.includes("\0") || o.includes("\x01");
    if (base === undefined) {
      const parts = [""];
      for (const [ip, owner] of this.byIP) {
        if (bad(owner)) return undefined;
        parts.push(`${ip}\x01${owner}`);
      }
      parts.push("");
      return parts.join("\0");
    }
    let body = base;
    for (const [added, ip, owner] of this.changes) {
      if (bad(owner)) return undefined;
      const entry = `${ip}\x01${owner}\0`;
      body = added ? body + entry : body.replace(`\0${entry}`, "\0");
    }
    return body;
  }

  /** `owner` must already be trimmed. */
  set(ip: string, owner: string): void {
    this.drop(ip);
    this.byIP.set(ip, owner);
    this.changes.push([true, ip, owner]);
    const list = this.byOwner.get(owner);
    if (list) list.push(ip);
    else this.byOwner.set(owner, [ip]);
  }

  drop(ip: string): void {
    const owner = this.byIP.get(ip);
    if (owner === undefined) return;
    this.byIP.delete(ip);
    this.changes.push([false, ip, owner]);
    const list = this.byOwner.get(owner)!;
    list.splice(list.indexOf(ip), 1);
    if (list.length === 0) this.byOwner.delete(owner);
  }

  owned(owner: string): readonly string[] {
    return this.byOwner.get(owner) ?? [];
  }
}
