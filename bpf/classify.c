// SPDX-License-Identifier: Apache-2.0
/*
 * classify: count, then steer the packet to an HTB class by setting skb->priority.
 *
 * HTB mode of docs/ebpf-bandwidth.md: HTB holds a short queue, and this program replaces tc
 * filters (u32) and, with redirect_ifindex, mirred to a shared IFB. HTB looks at skb->priority first: if it names one of its classes (major:minor with
 * the qdisc's major), the packet goes there without any filter. The packet is never dropped here.
 *
 * Small packets (ACKs, ICMP, DNS, SYNs) may go to a second class of the same HTB qdisc, a
 * higher-priority sibling under the attachment's rate-limited parent class, so they do not wait
 * behind the bulk queue. cfg.flags (0 = off): low 16 bits = size limit in bytes (skb->len,
 * L2 header included), high 16 bits = that class's minor.
 *
 * ECN (cfg.rate and cfg.mark_above set, 0 = off): a virtual queue per direction, the time at
 * which the attachment's class would have sent everything steered to it so far at its rate
 * (GCRA, as police.c, but nothing is dropped). A bulk packet that finds more than mark_above bytes'
 * worth in it is CE-marked if it is ECT. The program cannot see the HTB leaf's backlog, but every
 * packet of the class passes here and the class sends at cfg.rate, so the virtual queue follows
 * the real one (it ignores HTB's burst, so it errs towards marking early). ECN-capable TCP then
 * backs off before the leaf's tail drop (docs/ebpf-bandwidth.md, "Retransmits").
 *
 * Returns TCX_NEXT so programs attached after us, and legacy tc filters, still run (or, as a
 * classic cls_bpf filter with a mirred action, so that action runs).
 */
#include "shaping.h"

struct tscni_map_def state SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct shape_state),
	.max_entries = 2,
};

/* Advance the direction's virtual queue by this packet; true when it held more than mark_ns. The
 * clock update is a plain store like edt.c's: two CPUs racing may both take the same slot. */
static __always_inline int over_mark(__u32 dir, __u64 bytes, __u64 rate, __u64 mark_above)
{
	struct shape_state *s = bpf_map_lookup_elem(&state, &dir);

	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 t = READ_ONCE(s->t);
	__u64 start = t > now ? t : now;

	WRITE_ONCE(s->t, start + bytes * NSEC_PER_SEC / rate);
	return start - now > mark_above * NSEC_PER_SEC / rate;
}

static __always_inline int classify(struct __sk_buff *skb, __u32 dir)
{
	struct shape_cfg *c = cfg_for(dir);
	struct shape_stats *st = stats_for(dir);
	__u64 bytes = wire_bytes(skb);

	count(st, bytes);
	if (!c)
		return TCX_NEXT;
	__u32 small = SMALL_LIMIT(c->flags);
	int bulk = !(small && skb->len <= small);

	if (c->classid)
		skb->priority = bulk ? c->classid : TC_H_MAJ(c->classid) | SMALL_MINOR(c->flags);
	/* Small packets count towards the class's rate but skip the bulk queue: only bulk ones are marked. */
	if (c->rate && c->mark_above && over_mark(dir, bytes, c->rate, c->mark_above) && bulk &&
	    bpf_skb_ecn_set_ce(skb) == 1 && st)
		st->marks += 1;
	/*
	 * On the clsact fallback the filter is not direct-action: returning TC_ACT_UNSPEC (-1) there
	 * means "match", and the filter's mirred action redirects to the IFB. Before Linux 6.4 an IFB
	 * drops what bpf_redirect() hands it (the skb is not marked redirected); mirred marks it.
	 */
	if (c->redirect_ifindex && !c->mirred)
		return bpf_redirect(c->redirect_ifindex, 0);
	return TCX_NEXT;
}

SEC("tcx/ingress")
int classify_ingress(struct __sk_buff *skb)
{
	return classify(skb, DIR_INGRESS);
}

SEC("tcx/egress")
int classify_egress(struct __sk_buff *skb)
{
	return classify(skb, DIR_EGRESS);
}
