// A kernel that ACKs every netlink message, for unit tests of request builders run through the
// real Rtnl/NetlinkSocket (no root, no socket): it records what was sent.
import { NLMSG_ERROR, NLM_F_CAPPED } from "../../kernel/netlink/constants";
import { encodeMessage, parseMessages } from "../../kernel/netlink/message";
import { Rtnl } from "../../kernel/netlink/rtnl";
import { NetlinkSocket } from "../../kernel/netlink/socket";

export interface SentMessage {
  type: number;
  flags: number;
  payload: Buffer;
}

export function ackingRtnl(): { nl: Rtnl; sent: SentMessage[] } {
  const sent: SentMessage[] = [];
  const replies: Buffer[] = [];
  const nl = new Rtnl(new NetlinkSocket({
    send(buf) {
      for (const m of parseMessages(buf)) {
        sent.push({ type: m.type, flags: m.flags, payload: Buffer.from(m.payload) });
        const ack = Buffer.alloc(20); // int error 0 + the echoed header
        encodeMessage(m.type, m.flags, m.seq, Buffer.alloc(0)).copy(ack, 4, 0, 16);
        replies.push(encodeMessage(NLMSG_ERROR, NLM_F_CAPPED, m.seq, ack));
      }
    },
    recv(buf) {
      const d = replies.shift()!;
      d.copy(buf);
      return d.length;
    },
    close() {},
  }));
  return { nl, sent };
}
