/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal, self-contained declarations for our tc programs.
 *
 * Why our own header: the build must not depend on the build host's UAPI headers (older ones lack
 * the TCX constants) or on libbpf-dev, so the objects are byte-identical wherever clang 14 runs. Everything here is a stable kernel ABI: struct __sk_buff offsets, helper ids and return
 * codes never change once released.
 */
#ifndef TSCNI_BPF_H
#define TSCNI_BPF_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* UAPI struct __sk_buff, unchanged layout up to hwtstamp (kernel 5.16+). Only the fields we touch
 * are used; the rest keep the offsets right (the verifier rewrites context accesses by offset). */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	__u64 flow_keys; /* __bpf_md_ptr */
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	__u64 sk; /* __bpf_md_ptr */
	__u32 gso_size;
	__u8 tstamp_type;
	__u8 _pad[3];
	__u64 hwtstamp;
};

/* Return codes. TCX_NEXT (== TC_ACT_UNSPEC) lets later TCX programs and legacy tc filters run;
 * with cls_bpf direct-action it also means "continue with the next filter". */
#define TCX_NEXT (-1)
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7

/* Map types and update flags we use. */
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_ANY 0

/* Helper ids (include/uapi/linux/bpf.h, __BPF_FUNC_MAPPER order). */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)23;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) = (void *)26;
static long (*bpf_skb_ecn_set_ce)(struct __sk_buff *skb) = (void *)97;

/*
 * Map definitions: a plain struct in the "maps" section, one per map, found by the loader through
 * the symbol table (kernel/bpf/elf.ts). Chosen over BTF-style ".maps" so the loader needs no BTF
 * parser; the layout is ours and fixed: five little-endian u32 = 20 bytes.
 */
struct tscni_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

#define TSCNI_MAP(name, _type, _key, _value, _max)                                                 \
	struct tscni_map_def name SEC("maps") = {                                                     \
		.type = (_type),                                                                    \
		.key_size = sizeof(_key),                                                           \
		.value_size = sizeof(_value),                                                       \
		.max_entries = (_max),                                                              \
		.map_flags = 0,                                                                     \
	}

#define bpf_htons(x) ((__u16)__builtin_bswap16((__u16)(x)))

/* Packet headers: the few numbers gso_hdr_len() needs (linux/if_ether.h, in.h, ip.h, ipv6.h, tcp.h, udp.h). */
#define ETH_HLEN 14        /* Ethernet header */
#define ETH_P_IP 0x0800    /* skb->protocol of IPv4 (network byte order there) */
#define ETH_P_IPV6 0x86dd  /* skb->protocol of IPv6 */
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPV4_HLEN_MIN 20   /* struct iphdr without options */
#define IPV4_PROTO_OFF 9   /* iphdr.protocol */
#define IPV4_IHL_MASK 0x0f /* iphdr.ihl: header length in 32-bit words, low nibble of byte 0 */
#define IPV6_HLEN 40       /* struct ipv6hdr */
#define IPV6_NEXTHDR_OFF 6 /* ipv6hdr.nexthdr */
#define TCP_DOFF_OFF 12    /* tcphdr.doff: header length in 32-bit words, high nibble of this byte */
#define UDP_HLEN 8         /* struct udphdr */

#endif
