// SPDX-License-Identifier: Apache-2.0
/*
 * edt: Earliest Departure Time pacing, Cilium style.
 *
 * Each direction has a virtual clock: the time the previous packet of this container may leave.
 * A packet of n wire bytes advances it by n / rate and gets that time in skb->tstamp. The fq
 * qdisc on the device the packet leaves through holds it until then; packets further ahead than
 * horizon_ns are dropped here (fq would drop them anyway, later and at a higher cost).
 *
 * Needs sch_fq: without fq the timestamps are ignored and the rate is NOT enforced (measured).
 * Use classify + HTB there (kernel/bpf/probe.ts tells which).
 * The clock update is a plain store like Cilium's: two CPUs racing may both take the same slot,
 * which lets a little extra through but never stalls.
 */
#include "shaping.h"

struct tscni_map_def state SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct shape_state),
	.max_entries = 2,
};

/* Without a configured horizon, how far ahead a stack-set departure time may lie and still be
 * taken as one (fq's own default horizon is 10 s; 2 s covers any TCP pacing). */
#define PLAUSIBLE_AHEAD_NS (2 * NSEC_PER_SEC)

static __always_inline int edt(struct __sk_buff *skb, __u32 dir)
{
	struct shape_stats *st = stats_for(dir);
	struct shape_cfg *c = cfg_for(dir);
	struct shape_state *s = bpf_map_lookup_elem(&state, &dir);
	__u64 bytes = wire_bytes(skb);

	count(st, bytes);
	if (!c || !s || c->rate == 0)
		return TCX_NEXT;

	__u64 delay = bytes * NSEC_PER_SEC / c->rate;
	__u64 now = bpf_ktime_get_ns();
	/*
	 * Honour an earlier departure time set by the stack (TCP pacing) only when it is a plausible
	 * monotonic time. A receive timestamp is wall-clock time (set on every packet once any socket
	 * asks for timestamps, e.g. ping) and survives bridge forwarding: taken as monotonic it would
	 * push the clock decades ahead and every later packet would be dropped at the horizon.
	 */
	__u64 horizon = c->horizon_ns ? c->horizon_ns : PLAUSIBLE_AHEAD_NS;
	__u64 ts = skb->tstamp;
	if (ts < now || ts - now > horizon)
		ts = now;
	/*
	 * Always write the stamp back: fq takes skb->tstamp as monotonic too, and would hold or drop
	 * a packet still carrying a wall-clock receive stamp.
	 */
	skb->tstamp = ts;
	__u64 t = READ_ONCE(s->t);

	/*
	 * Small packets (ACKs, pings, DNS; cfg.flags low 16 bits = the size limit, 0 = off) leave now
	 * and are charged to the clock, so the bulk behind them pays for them: one virtual clock per
	 * container would otherwise make a ping wait the whole horizon behind a bulk flow.
	 */
	__u32 small = SMALL_LIMIT(c->flags);
	if (small && skb->len <= small) {
		if (t > ts)
			WRITE_ONCE(s->t, t + delay);
		return TCX_NEXT;
	}

	__u64 next = t + delay;
	if (next <= ts) {
		/* Idle long enough: no delay, restart the clock from this packet. */
		WRITE_ONCE(s->t, ts);
		return TCX_NEXT;
	}
	if (c->horizon_ns && next - now > c->horizon_ns) {
		if (st)
			st->drops += 1;
		return TCX_DROP;
	}
	WRITE_ONCE(s->t, next);
	skb->tstamp = next;
	return TCX_NEXT;
}

SEC("tcx/ingress")
int edt_ingress(struct __sk_buff *skb)
{
	return edt(skb, DIR_INGRESS);
}

SEC("tcx/egress")
int edt_egress(struct __sk_buff *skb)
{
	return edt(skb, DIR_EGRESS);
}
