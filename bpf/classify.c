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
 * Returns TCX_NEXT so programs attached after us, and legacy tc filters, still run (or, as a
 * classic cls_bpf filter with a mirred action, so that action runs).
 */
#include "shaping.h"

static __always_inline int classify(struct __sk_buff *skb, __u32 dir)
{
	struct shape_cfg *c = cfg_for(dir);

	count(stats_for(dir), wire_bytes(skb));
	if (!c)
		return TCX_NEXT;
	if (c->classid) {
		__u32 small = SMALL_LIMIT(c->flags);

		if (small && skb->len <= small)
			skb->priority = TC_H_MAJ(c->classid) | SMALL_MINOR(c->flags);
		else
			skb->priority = c->classid;
	}
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
