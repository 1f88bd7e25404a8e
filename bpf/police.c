// SPDX-License-Identifier: Apache-2.0
/*
 * police: a token-bucket policer (GCRA form) with ECN CE marking below the drop line.
 *
 * GCRA keeps one number per direction, the theoretical arrival time t: the moment the bucket
 * would be full again. A packet of n wire bytes costs n / rate seconds. With
 * backlog = max(t, now) - now, the packet conforms if backlog + cost <= burst / rate; then
 * t = max(t, now) + cost. One u64 updated with compare-and-swap replaces a spin-locked
 * {tokens, last} pair, so the map needs no BTF and CPUs never wait on each other.
 *
 * Measured (docs/ebpf-bandwidth.md, "Police mode"): a pure drop policer cannot hold TCP near the rate at data-centre RTTs;
 * marking ECT packets with CE once the backlog passes mark_above makes ECN-capable senders back
 * off before any drop (930 Mbit/s at a 1 Gbit target, 0.04 ms ping).
 */
#include "shaping.h"

struct tscni_map_def state SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct shape_state),
	.max_entries = 2,
};

/* Compare-and-swap retries before giving up and letting the packet through uncharged: only
 * reached when several CPUs hit the same direction at the same instant. */
#define CAS_TRIES 4

static __always_inline int police(struct __sk_buff *skb, __u32 dir)
{
	struct shape_stats *st = stats_for(dir);
	struct shape_cfg *c = cfg_for(dir);
	struct shape_state *s = bpf_map_lookup_elem(&state, &dir);
	__u64 bytes = wire_bytes(skb);

	count(st, bytes);
	if (!c || !s || c->rate == 0)
		return TCX_NEXT;

	__u64 rate = c->rate;
	__u64 cost = bytes * NSEC_PER_SEC / rate;
	__u64 limit = c->burst * NSEC_PER_SEC / rate;
	__u64 mark = c->mark_above ? c->mark_above * NSEC_PER_SEC / rate : ~0ULL;
	__u64 now = bpf_ktime_get_ns();

	for (int i = 0; i < CAS_TRIES; i++) {
		__u64 t = READ_ONCE(s->t);
		__u64 start = t > now ? t : now;
		__u64 backlog = start - now + cost;

		if (backlog > limit) {
			if (st)
				st->drops += 1;
			return TCX_DROP;
		}
		if (__sync_val_compare_and_swap(&s->t, t, start + cost) != t)
			continue;
		if (backlog > mark && bpf_skb_ecn_set_ce(skb) == 1 && st)
			st->marks += 1;
		return TCX_NEXT;
	}
	return TCX_NEXT;
}

SEC("tcx/ingress")
int police_ingress(struct __sk_buff *skb)
{
	return police(skb, DIR_INGRESS);
}

SEC("tcx/egress")
int police_egress(struct __sk_buff *skb)
{
	return police(skb, DIR_EGRESS);
}
