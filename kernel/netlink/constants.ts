// Numeric constants from the kernel UAPI headers (linux/netlink.h, rtnetlink.h, if_link.h,
// if_addr.h, neighbour.h, pkt_sched.h, pkt_cls.h, if_bridge.h). Only what this layer uses.
// Values are ABI: they never change, so they are written out rather than probed.

export const NETLINK_ROUTE = 0;

// nlmsghdr.nlmsg_type control messages
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

// nlmsghdr.nlmsg_flags
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
// GET modifiers
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// NEW modifiers
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
// ACK/ERROR flags
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

// enum nlmsgerr_attrs
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_COOKIE = 3;
export const NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5;
export const NLMSGERR_ATTR_MISS_NEST = 6;

// nlattr.nla_type high bits
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// rtnetlink message types
export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
  NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
  NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38,
  NEWTCLASS: 40, DELTCLASS: 41, GETTCLASS: 42,
  NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46,
} as const;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

// ifinfomsg.ifi_flags (net/if.h)
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

export const IFLA = {
  ADDRESS: 1, BROADCAST: 2, IFNAME: 3, MTU: 4, LINK: 5, QDISC: 6, STATS: 7, MASTER: 10,
  PROTINFO: 12, TXQLEN: 13, OPERSTATE: 16, LINKMODE: 17, LINKINFO: 18, NET_NS_PID: 19,
  IFALIAS: 20, STATS64: 23, AF_SPEC: 26, GROUP: 27, NET_NS_FD: 28, EXT_MASK: 29,
  PROMISCUITY: 30, NUM_TX_QUEUES: 31, NUM_RX_QUEUES: 32, CARRIER: 33, LINK_NETNSID: 37,
  PROTO_DOWN: 39, GSO_MAX_SEGS: 40, GSO_MAX_SIZE: 41, TARGET_NETNSID: 46, MIN_MTU: 50, MAX_MTU: 51,
  PERM_ADDRESS: 54, GRO_MAX_SIZE: 58, TSO_MAX_SIZE: 59, TSO_MAX_SEGS: 60, GSO_IPV4_MAX_SIZE: 63,
} as const;

export const IFLA_INFO = { KIND: 1, DATA: 2, XSTATS: 3, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;

export const IFLA_BR = {
  FORWARD_DELAY: 1, HELLO_TIME: 2, MAX_AGE: 3, AGEING_TIME: 4, STP_STATE: 5, PRIORITY: 6,
  VLAN_FILTERING: 7, VLAN_PROTOCOL: 8, MCAST_SNOOPING: 23, VLAN_DEFAULT_PVID: 39,
} as const;

export const IFLA_BRPORT = {
  STATE: 1, PRIORITY: 2, COST: 3, MODE: 4, GUARD: 5, PROTECT: 6, FAST_LEAVE: 7, LEARNING: 8,
  UNICAST_FLOOD: 9, PROXYARP: 10, MCAST_FLOOD: 27, BCAST_FLOOD: 30, NEIGH_SUPPRESS: 32,
  ISOLATED: 33,
} as const;

export const IFLA_VLAN = { ID: 1, FLAGS: 2, PROTOCOL: 5 } as const;

// if_bridge.h: IFLA_AF_SPEC contents for AF_BRIDGE
export const IFLA_BRIDGE = { FLAGS: 0, MODE: 1, VLAN_INFO: 2 } as const;
export const BRIDGE_FLAGS_MASTER = 1;
export const BRIDGE_FLAGS_SELF = 2;
export const BRIDGE_VLAN_INFO = {
  MASTER: 0x1, PVID: 0x2, UNTAGGED: 0x4, RANGE_BEGIN: 0x8, RANGE_END: 0x10, BRENTRY: 0x20,
} as const;
export const RTEXT_FILTER_VF = 1;
export const RTEXT_FILTER_BRVLAN = 2;
export const RTEXT_FILTER_BRVLAN_COMPRESSED = 4;
export const RTEXT_FILTER_SKIP_STATS = 8;

export const IFA = {
  ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, ANYCAST: 5, CACHEINFO: 6, MULTICAST: 7,
  FLAGS: 8, RT_PRIORITY: 9, TARGET_NETNSID: 10, PROTO: 11,
} as const;
export const IFA_F = {
  SECONDARY: 0x01, NODAD: 0x02, OPTIMISTIC: 0x04, DADFAILED: 0x08, HOMEADDRESS: 0x10,
  DEPRECATED: 0x20, TENTATIVE: 0x40, PERMANENT: 0x80, MANAGETEMPADDR: 0x100,
  NOPREFIXROUTE: 0x200, MCAUTOJOIN: 0x400, STABLE_PRIVACY: 0x800,
} as const;

export const RTA = {
  DST: 1, SRC: 2, IIF: 3, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, METRICS: 8, MULTIPATH: 9,
  FLOW: 11, CACHEINFO: 12, TABLE: 15, MARK: 16, VIA: 18, PREF: 20, EXPIRES: 23, PAD: 24,
  UID: 25, NH_ID: 30,
} as const;
export const RTAX = {
  LOCK: 1, MTU: 2, WINDOW: 3, RTT: 4, RTTVAR: 5, SSTHRESH: 6, CWND: 7, ADVMSS: 8,
  REORDERING: 9, HOPLIMIT: 10, INITCWND: 11, FEATURES: 12, RTO_MIN: 13, INITRWND: 14,
  QUICKACK: 15,
} as const;

export const RT_TABLE = { UNSPEC: 0, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;
export const RTPROT = { UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
export const RTN = {
  UNSPEC: 0, UNICAST: 1, LOCAL: 2, BROADCAST: 3, ANYCAST: 4, MULTICAST: 5, BLACKHOLE: 6,
  UNREACHABLE: 7, PROHIBIT: 8, THROW: 9, NAT: 10,
} as const;
export const RTNH_F_ONLINK = 0x4;

export const NDA = {
  DST: 1, LLADDR: 2, CACHEINFO: 3, PROBES: 4, VLAN: 5, PORT: 6, VNI: 7, IFINDEX: 8, MASTER: 9,
} as const;
export const NUD = {
  INCOMPLETE: 0x01, REACHABLE: 0x02, STALE: 0x04, DELAY: 0x08, PROBE: 0x10, FAILED: 0x20,
  NOARP: 0x40, PERMANENT: 0x80, NONE: 0x00,
} as const;
export const NTF = { USE: 0x01, SELF: 0x02, MASTER: 0x04, PROXY: 0x08, EXT_LEARNED: 0x10, ROUTER: 0x80 } as const;

// tc
export const TCA = {
  KIND: 1, OPTIONS: 2, STATS: 3, XSTATS: 4, RATE: 5, FCNT: 6, STATS2: 7, STAB: 8, PAD: 9,
  DUMP_INVISIBLE: 10, CHAIN: 11, HW_OFFLOAD: 12, INGRESS_BLOCK: 13, EGRESS_BLOCK: 14,
  DUMP_FLAGS: 15, EXT_WARN_MSG: 16,
} as const;
export const TCA_STATS = {
  BASIC: 1, RATE_EST: 2, QUEUE: 3, APP: 4, RATE_EST64: 5, PAD: 6, BASIC_HW: 7, PKT64: 8,
} as const;
export const TCA_HTB = {
  PARMS: 1, INIT: 2, CTAB: 3, RTAB: 4, DIRECT_QLEN: 5, RATE64: 6, CEIL64: 7, PAD: 8, OFFLOAD: 9,
} as const;
export const TCA_TBF = {
  PARMS: 1, RTAB: 2, PTAB: 3, RATE64: 4, PRATE64: 5, BURST: 6, PBURST: 7, PAD: 8,
} as const;
export const TCA_BPF = {
  ACT: 1, POLICE: 2, CLASSID: 3, OPS_LEN: 4, OPS: 5, FD: 6, NAME: 7, FLAGS: 8, FLAGS_GEN: 9,
  TAG: 10, ID: 11,
} as const;
export const TCA_BPF_FLAG_ACT_DIRECT = 1;
/** One tc action inside a filter's action list (TCA_ACT_*, linux/pkt_cls.h). */
export const TCA_ACT = { KIND: 1, OPTIONS: 2, INDEX: 3, STATS: 4, PAD: 5, COOKIE: 6 } as const;
/** act_mirred (linux/tc_act/tc_mirred.h). */
export const TCA_MIRRED = { TM: 1, PARMS: 2 } as const;
export const TCA_EGRESS_REDIR = 1;
export const TC_ACT_STOLEN = 4;
export const TC_LINKLAYER_ETHERNET = 1;
export const TC_HTB_PROTOVER = 3;

// Special tc handles (pkt_sched.h)
export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
export const TC_H_CLSACT = TC_H_INGRESS;
export const TC_H_MIN_INGRESS = 0xfff2;
export const TC_H_MIN_EGRESS = 0xfff3;
/** Filter parents on a clsact qdisc. */
export const TC_PARENT_INGRESS = 0xfffffff2;
export const TC_PARENT_EGRESS = 0xfffffff3;
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
