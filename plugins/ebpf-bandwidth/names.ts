// Names of the state an attachment keeps under the pin root: `<pinRoot>/<network>/<attachment>`.
// Pure; unit-tested without root.
//
// Three constraints shape them:
// - Injective: two attachments must never share a directory (DEL or GC of one would remove the
//   other's classes and programs). `${containerID}-${ifname}` was not: ("pod-x", "eth0") and
//   ("pod", "x-eth0") met in "pod-x-eth0".
// - bpffs refuses names with a dot (EPERM; dots are reserved for the kernel's own files), and the
//   spec allows dots in container IDs, network names and interface names.
// - A name is at most NAME_MAX (255) bytes; container IDs and network names have no length limit.
//
// So: '%' escapes (`%2e` for '.', `%25` for '%', any other byte outside the kept set as `%HH`); the
// interface name also escapes '-', which makes the LAST '-' the separator; a part whose encoding
// would not fit becomes `<prefix>%h<hash>`, which no unhashed encoding contains ('%' is otherwise
// always followed by two hex digits). Spec-valid IDs and network names without dots, and interface
// names without '-', encode to themselves: pins made before this scheme keep their names.
export const NAME_MAX = 255;
/** Longest interface name (IFNAMSIZ - 1) and its worst-case encoding. */
const IFNAME_ENCODED_MAX = 15 * 3;
const HASH_HEX = 32;

const KEEP_ID = /[A-Za-z0-9_-]/; // container IDs and network names: all spec characters but '.'
const KEEP_IF = /[A-Za-z0-9_]/;

function escape(s: string, keep: RegExp): string {
  let out = "";
  for (const ch of s) {
    if (keep.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

// sha256 only for names too long to keep whole (rare): node:crypto is not loaded otherwise.
const hash = (s: string) => process.getBuiltinModule("node:crypto").createHash("sha256").update(s).digest("hex").slice(0, HASH_HEX);

/** Cut an encoding to at most `n` bytes without splitting a `%HH` escape. */
function prefix(enc: string, n: number): string {
  let p = enc.slice(0, n);
  const pct = p.lastIndexOf("%");
  if (pct >= 0 && pct > p.length - 3) p = p.slice(0, pct);
  return p;
}

/** `s` escaped, or `<prefix>%h<sha256(s)>` when the escaped form exceeds `max` bytes. */
function encodePart(s: string, keep: RegExp, max: number): string {
  const enc = escape(s, keep);
  if (enc.length <= max) return enc;
  return `${prefix(enc, max - HASH_HEX - 2)}%h${hash(s)}`;
}

/** The network's directory name under the pin root. */
export const networkDirName = (network: string) => encodePart(network, KEEP_ID, NAME_MAX);

/** The attachment's directory name under the network directory: injective in (containerID, ifname). */
export const attachmentName = (containerID: string, ifname: string) =>
  `${encodePart(containerID, KEEP_ID, NAME_MAX - 1 - IFNAME_ENCODED_MAX)}-${escape(ifname, KEEP_IF)}`;

/**
 * The name an earlier version gave the attachment, where that name can be nobody else's: with a
 * '-' in the interface name it is another attachment's current name ("pod-x-eth0" is that of
 * ("pod-x", "eth0") as well as the old one of ("pod", "x-eth0")); other old names equal the
 * current one, or (dots, long IDs) never existed, since bpffs refused them. GC keeps a directory
 * so named when its attachment is valid, so that a pod attached before an upgrade keeps its limit.
 */
export const legacyAttachmentName = (containerID: string, ifname: string): string | undefined =>
  ifname.includes("-") ? undefined : `${containerID}-${ifname}`;

/** `<pinRoot>/<network>`: where GC looks for this network's attachments. */
export const networkPath = (pinRoot: string, network: string) => `${pinRoot.replace(/\/+$/, "")}/${networkDirName(network)}`;

/** `<pinRoot>/<network>/<attachment>`: the one place an attachment's directory is named. */
export const attachmentPath = (pinRoot: string, network: string, containerID: string, ifname: string) =>
  `${networkPath(pinRoot, network)}/${attachmentName(containerID, ifname)}`;

/** For display (`tscni stats`): undo the escapes; a hashed part stays as it is. */
export function displayName(name: string): string {
  if (name.includes("%h")) return name;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
