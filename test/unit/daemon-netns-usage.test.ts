// cli/daemon/netns-usage.ts, the pure half: is a network namespace used by anything but the daemon,
// decided over snapshots of /proc (mountinfo lines, processes' and threads' namespaces, open
// descriptors on nsfs). No root. The reading of /proc is tested in test/integration/daemon-netns-usage.test.ts.
import { describe, expect, it } from "vitest";
import {
  INITIAL_NETNS_INODE,
  INITIAL_PIDNS_INODE,
  type NetnsSnapshot,
  decideNetnsUse,
  netnsBindMountPoint,
  nsLinkInode,
} from "../../cli/daemon/netns-usage";

const NS = 4026532174;
const OTHER = 4026532999;
const SELF = 500;

// Lines as this machine shows them after `ip netns add probex`: in the host's mount namespace
// (a shared peer group) and in a private copy made by `unshare -m --propagation private`.
const HOST_LINE = `46 45 0:4 net:[${NS}] /run/netns/probex rw shared:2 - nsfs nsfs rw`;
const PRIVATE_LINE = `69 68 0:4 net:[${NS}] /run/netns/probex rw - nsfs nsfs rw`;
const ORDINARY = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334760k,nr_inodes=3083690,mode=755",
  `47 45 0:4 net:[${OTHER}] /run/netns/other rw shared:2 - nsfs nsfs rw`,
];

const snap = (s: Partial<NetnsSnapshot>): NetnsSnapshot => ({ pidNsInode: INITIAL_PIDNS_INODE, mountinfo: ORDINARY, processes: [], ...s });

describe("nsLinkInode", () => {
  it("reads the inode of a link of the asked kind", () => {
    expect(nsLinkInode(`net:[${NS}]`)).toBe(NS);
    expect(nsLinkInode("pid:[4026531836]", "pid")).toBe(4026531836);
  });

  it("refuses other kinds and anything that is not a namespace link", () => {
    expect(["mnt:[4026532174]", "socket:[4026532174]", "net:[]", "net:[12a]", "net:[1", "/run/netns/x", ""].map((l) => nsLinkInode(l))).toEqual(
      Array(7).fill(undefined),
    );
  });
});

describe("netnsBindMountPoint", () => {
  it("finds the mount point of an nsfs mount whose root is the namespace, with or without optional fields", () => {
    expect(netnsBindMountPoint(HOST_LINE, NS)).toBe("/run/netns/probex");
    expect(netnsBindMountPoint(PRIVATE_LINE, NS)).toBe("/run/netns/probex");
    expect(netnsBindMountPoint(`46 45 0:4 net:[${NS}] /run/netns/p rw shared:2 master:7 propagate_from:3 - nsfs nsfs rw`, NS)).toBe("/run/netns/p");
  });

  it("unescapes the mount point as mountinfo escapes it (\\040 space, \\011 tab, \\134 backslash)", () => {
    expect(netnsBindMountPoint(`46 45 0:4 net:[${NS}] /run/my\\040ns\\011x\\134y rw - nsfs nsfs rw`, NS)).toBe("/run/my ns\tx\\y");
  });

  it("accepts a namespace file on proc (kernels before nsfs) but no other file system", () => {
    expect(netnsBindMountPoint(`46 45 0:3 net:[${NS}] /run/netns/old rw - proc proc rw`, NS)).toBe("/run/netns/old");
    expect(netnsBindMountPoint(`46 45 0:30 net:[${NS}] /mnt/x rw - tmpfs tmpfs rw`, NS)).toBeUndefined();
  });

  it("ignores another namespace, another kind and malformed lines", () => {
    expect(netnsBindMountPoint(HOST_LINE, OTHER)).toBeUndefined();
    expect(netnsBindMountPoint(`46 45 0:4 mnt:[${NS}] /run/mnt rw - nsfs nsfs rw`, NS)).toBeUndefined();
    const malformed = ["", "garbage", `46 45 0:4 net:[${NS}] /run/netns/x rw shared:2 nsfs nsfs rw`, `46 45 0:4 net:[${NS}] /run/netns/x rw -`, `net:[${NS}] - nsfs`];
    expect(malformed.map((l) => netnsBindMountPoint(l, NS))).toEqual(Array(malformed.length).fill(undefined));
  });
});

describe("decideNetnsUse", () => {
  it("bind-mounted: used, saying where", () => {
    expect(decideNetnsUse(NS, SELF, snap({ mountinfo: [...ORDINARY, HOST_LINE] }))).toEqual({ used: true, why: "bind-mounted at /run/netns/probex" });
  });

  it("a process inside: used, naming it", () => {
    const v = decideNetnsUse(NS, SELF, snap({ processes: [[1, OTHER], [SELF, NS], [1234, NS]] }));
    expect(v).toEqual({ used: true, why: "process 1234 is in it", pid: 1234 });
  });

  it("a thread of another process inside: used", () => {
    const v = decideNetnsUse(NS, SELF, snap({ processes: [[1, OTHER], [77, OTHER]], threads: [[77, 77, OTHER], [77, 80, NS]] }));
    expect(v).toEqual({ used: true, why: "thread 80 of process 77 is in it", pid: 77 });
  });

  it("only an open descriptor keeps it: used, naming the holder", () => {
    const fds: [number, number][] = [[1, OTHER], [99, OTHER], [99, NS]];
    expect(decideNetnsUse(NS, SELF, snap({ processes: [[99, OTHER]], fds }))).toEqual({ used: true, why: "process 99 holds it open", pid: 99 });
  });

  it("nothing keeps it: unused", () => {
    const v = decideNetnsUse(NS, SELF, snap({ processes: [[1, OTHER], [2, OTHER]], threads: [[1, 3, OTHER]], fds: [[1, OTHER]] }));
    expect(v).toEqual({ used: false, why: "no bind mount, process, thread or open descriptor keeps it" });
  });

  it("our own process, its threads and its descriptors are us", () => {
    const v = decideNetnsUse(NS, SELF, snap({ processes: [[SELF, NS]], threads: [[SELF, SELF + 1, NS], [SELF, SELF + 2, OTHER]], fds: [[SELF, NS]] }));
    expect(v).toEqual({ used: false, why: "no bind mount, process, thread or open descriptor keeps it" });
  });

  it("malformed mountinfo lines are ignored", () => {
    const v = decideNetnsUse(NS, SELF, snap({ mountinfo: ["", "x y z", `net:[${NS}]`, `46 45 0:4 net:[${NS}] /run/x rw nsfs`, `- nsfs net:[${NS}]`] }));
    expect(v).toEqual({ used: false, why: "no bind mount, process, thread or open descriptor keeps it" });
  });

  it("the initial network namespace is used whatever the snapshot shows", () => {
    expect(decideNetnsUse(INITIAL_NETNS_INODE, SELF, snap({}))).toEqual({ used: true, why: "it is the initial network namespace" });
  });

  it("outside the initial pid namespace it cannot see every process, so it says used", () => {
    expect(decideNetnsUse(NS, SELF, snap({ pidNsInode: 4026532500 }))).toEqual({ used: true, why: "not every process is visible outside the initial pid namespace" });
  });

  it("stops at the first user: later sources are never read", () => {
    let read = 0;
    function* processes(): Generator<readonly [number, number]> {
      for (const p of [[10, OTHER], [11, NS], [12, NS]] as const) {
        read += 1;
        yield p;
      }
    }
    const untouchable = {
      [Symbol.iterator]() {
        throw new Error("read past the first user");
      },
    };
    const v = decideNetnsUse(NS, SELF, snap({ processes: processes(), threads: untouchable, fds: untouchable }));
    expect([v.why, read]).toEqual(["process 11 is in it", 2]);
    expect(decideNetnsUse(NS, SELF, snap({ mountinfo: [HOST_LINE], processes: untouchable })).why).toBe("bind-mounted at /run/netns/probex");
  });
});
