/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps and helpers shared by the shaping programs (classify.c, police.c, edt.c).
 *
 * One object is loaded per attachment (per container interface). Each object has two entry
 * points, "tcx/ingress" and "tcx/egress", and its maps are indexed by direction relative to the
 * device the program is attached to: DIR_INGRESS = 0, DIR_EGRESS = 1. The layouts below are
 * mirrored in kernel/bpf/shaping.ts; change both together.
 */
#ifndef TSCNI_SHAPING_H
#define TSCNI_SHAPING_H

#include "tscni_bpf.h"

#define DIR_INGRESS 0
#define DIR_EGRESS 1
#define NSEC_PER_SEC 1000000000ULL

/* shape_cfg.flags: the small-packet size limit (low 16 bits; 0 = off) and, for classify, the small
 * class's minor (high 16 bits). */
#define SMALL_LIMIT(flags) ((flags) & 0xffff)
#define SMALL_MINOR(flags) ((flags) >> 16)
/* The major half of a tc handle (TC_H_MAJ_MASK). */
#define TC_H_MAJ(h) ((h) & 0xffff0000U)

/* Per-direction configuration, written by user space. 48 bytes. */
struct shape_cfg {
	__u64 rate;             /* bytes per second; 0 = no limit (count only) */
	__u64 burst;            /* police: bucket depth in bytes (GCRA tolerance) */
	__u64 mark_above;       /* police: CE-mark ECT packets once the backlog exceeds this many bytes; 0 = never */
	__u64 horizon_ns;       /* edt: drop packets that would be scheduled further ahead than this */
	__u32 classid;          /* classify: value for skb->priority, TC_H_MAKE(major, minor); 0 = leave */
	__u32 redirect_ifindex; /* classify: bpf_redirect() to this device's egress (shared IFB); 0 = none */
	__u32 flags;            /* small packets: classify (class + size, classify.c), edt (size, edt.c) */
	__u32 mirred;           /* classify: 1 = our cls_bpf filter's mirred action redirects, not bpf_redirect() */
};

/* Per-direction counters. Per-CPU: user space sums the CPUs. 32 bytes. */
struct shape_stats {
	__u64 bytes;   /* wire bytes of every packet seen (GSO-aware), passed or not */
	__u64 packets; /* packets seen (an skb counts once, whatever its gso_segs) */
	__u64 drops;   /* packets this program dropped */
	__u64 marks;   /* packets this program CE-marked */
};

/* Per-direction rate state (police: GCRA theoretical arrival time; edt: virtual clock), in ns of
 * CLOCK_MONOTONIC. Shared across CPUs, updated with compare-and-swap (police) or a plain store (edt). */
struct shape_state {
	__u64 t;
};

TSCNI_MAP(cfg, BPF_MAP_TYPE_ARRAY, __u32, struct shape_cfg, 2);
TSCNI_MAP(stats, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct shape_stats, 2);

/*
 * Bytes this skb will occupy on the wire. A GSO/GRO super-packet of gso_segs segments becomes
 * gso_segs packets, each repeating the headers: len + (gso_segs - 1) * hdr_len. Counting only
 * skb->len would under-charge TCP by ~3 % and, for a policer, make one drop cost dozens of
 * segments. hdr_len = L2 + L3 + L4 headers, parsed with bpf_skb_load_bytes (works on non-linear
 * skbs too). Unknown protocols fall back to the kernel's wire_len (set on egress) or len.
 */
static __always_inline __u32 gso_hdr_len(struct __sk_buff *skb)
{
	__u8 buf[IPV6_HLEN];
	__u32 off = ETH_HLEN;
	__u8 l4;
	__u16 proto = (__u16)skb->protocol; /* network byte order */

	if (proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, off, buf, IPV4_HLEN_MIN) < 0)
			return 0;
		l4 = buf[IPV4_PROTO_OFF];
		off += (buf[0] & IPV4_IHL_MASK) * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, off, buf, IPV6_HLEN) < 0)
			return 0;
		l4 = buf[IPV6_NEXTHDR_OFF]; /* extension headers are not walked: rare with GSO */
		off += IPV6_HLEN;
	} else {
		return 0;
	}
	if (l4 == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, off + TCP_DOFF_OFF, buf, 1) < 0)
			return 0;
		return off + (buf[0] >> 4) * 4;
	}
	if (l4 == IPPROTO_UDP) /* GSO_UDP_L4 */
		return off + UDP_HLEN;
	return 0;
}

static __always_inline __u64 wire_bytes(struct __sk_buff *skb)
{
	__u32 segs = skb->gso_segs;
	__u64 len = skb->len;

	if (segs <= 1)
		return len;
	__u32 hdr = gso_hdr_len(skb);
	if (hdr == 0 || hdr >= len) {
		__u32 wl = skb->wire_len;
		return wl > len ? wl : len;
	}
	return len + (__u64)(segs - 1) * hdr;
}

static __always_inline struct shape_stats *stats_for(__u32 dir)
{
	return bpf_map_lookup_elem(&stats, &dir);
}

static __always_inline struct shape_cfg *cfg_for(__u32 dir)
{
	return bpf_map_lookup_elem(&cfg, &dir);
}

/* Per-CPU counters: no atomics needed, preemption is disabled while a tc program runs. */
static __always_inline void count(struct shape_stats *st, __u64 bytes)
{
	if (st) {
		st->bytes += bytes;
		st->packets += 1;
	}
}

char LICENSE[] SEC("license") = "Apache-2.0";

#endif
