// Several rtnetlink messages in one datagram (NetlinkSocket.batch), and what it is for: creating a
// device together with its alias (Rtnl.addIfb), which the kernel ignores inside RTM_NEWLINK. One
// sendmsg means a process killed around it leaves no device or a marked one. Fake kernel, no root.
import { describe, expect, it } from "vitest";
import { decodeBody, encodeBody } from "../../kernel/netlink/attrs";
import { NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, RTM } from "../../kernel/netlink/constants";
import { NetlinkError } from "../../kernel/netlink/errors";
import { linkBody } from "../../kernel/netlink/link";
import { encodeMessage, parseMessages } from "../../kernel/netlink/message";
import { Rtnl } from "../../kernel/netlink/rtnl";
import { NetlinkSocket } from "../../kernel/netlink/socket";

interface Sent { type: number; flags: number; seq: number; payload: Buffer }
const ENODEV = 19;
const EEXIST = 17;

/** A scripted kernel: `answer(messages of one datagram, datagram number)` → reply datagrams. */
function fakeKernel(answer: (msgs: Sent[], n: number) => Buffer[]) {
  const datagrams: Sent[][] = [];
  const queue: Buffer[] = [];
  const sock = new NetlinkSocket({
    send(buf) {
      const msgs = parseMessages(buf).map((m) => ({ type: m.type, flags: m.flags, seq: m.seq, payload: Buffer.from(m.payload) }));
      datagrams.push(msgs);
      queue.push(...answer(msgs, datagrams.length));
    },
    recv(buf) {
      const d = queue.shift();
      if (!d) throw Object.assign(new Error("recv: timeout"), { errno: 11, code: "EAGAIN", syscall: "recv" });
      d.copy(buf);
      return d.length;
    },
    close() {},
  });
  return { sock, datagrams };
}

function ack(m: Sent, errno = 0): Buffer {
  const p = Buffer.alloc(20);
  p.writeInt32LE(-errno, 0);
  encodeMessage(m.type, m.flags, m.seq, Buffer.alloc(0)).copy(p, 4, 0, 16);
  return encodeMessage(NLMSG_ERROR, 0x100 /* NLM_F_CAPPED */, m.seq, p);
}
const linkReply = (m: Sent, index: number, name: string) =>
  encodeMessage(RTM.NEWLINK, 0, m.seq, encodeBody(linkBody, { header: { index, type: 1 }, attrs: { ifname: name, mtu: 1500, ifalias: "tscni ebpf-bandwidth", linkinfo: { kind: "ifb" } } }));
const attrsOf = (m: Sent) => decodeBody(linkBody, m.payload);

describe("NetlinkSocket.batch", () => {
  it("sends every message in one datagram and returns each outcome in order, whatever order the ACKs come in", () => {
    const { sock, datagrams } = fakeKernel((msgs) => [
      encodeMessage(NLMSG_ERROR, 0, 12345, Buffer.alloc(20)), // a stale reply to someone else's request
      Buffer.concat([ack(msgs[2]!), ack(msgs[0]!, EEXIST)]),
      ack(msgs[1]!),
    ]);
    const req = (target: string) => ({ type: RTM.SETLINK, payload: Buffer.alloc(16), target });
    const out = sock.batch([req("a"), req("b"), req("c")]);
    expect(datagrams).toHaveLength(1);
    expect(datagrams[0]!.map((m) => m.flags)).toEqual([NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_ACK]);
    expect(new Set(datagrams[0]!.map((m) => m.seq)).size).toBe(3);
    expect(out.map((e) => e?.code)).toEqual(["EEXIST", undefined, undefined]);
    expect(out[0]).toBeInstanceOf(NetlinkError);
    expect(out[0]!.message).toBe("RTM_SETLINK a: File exists");
  });
});

describe("Rtnl.addIfb with an alias", () => {
  it("creates the device and sets its alias in one datagram (RTM_NEWLINK without IFLA_IFALIAS, then RTM_SETLINK by name)", () => {
    const { sock, datagrams } = fakeKernel((msgs, n) => {
      const m = msgs[0]!;
      if (n === 1) return [ack(m, ENODEV)]; // the name is free
      if (n === 2) return msgs.map((x) => ack(x));
      return [linkReply(m, 9, "tscni-ifb0"), ack(m)];
    });
    const link = new Rtnl(sock).addIfb({ name: "tscni-ifb0", alias: "tscni ebpf-bandwidth" });
    expect(link).toMatchObject({ index: 9, name: "tscni-ifb0", kind: "ifb", alias: "tscni ebpf-bandwidth" });
    expect(datagrams.map((d) => d.map((m) => m.type))).toEqual([[RTM.GETLINK], [RTM.NEWLINK, RTM.SETLINK], [RTM.GETLINK]]);
    const [make, mark] = datagrams[1]!;
    expect(make!.flags & (NLM_F_CREATE | NLM_F_EXCL)).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(attrsOf(make!).attrs).toEqual({ ifname: "tscni-ifb0", linkinfo: { kind: "ifb" } });
    expect(attrsOf(mark!).header.index).toBe(0);
    expect(attrsOf(mark!).attrs).toEqual({ ifname: "tscni-ifb0", ifalias: "tscni ebpf-bandwidth" });
  });

  it("refuses a name in use before sending anything that changes state", () => {
    const { sock, datagrams } = fakeKernel((msgs) => [linkReply(msgs[0]!, 4, "tscni-ifb0"), ack(msgs[0]!)]);
    expect(() => new Rtnl(sock).addIfb({ name: "tscni-ifb0", alias: "x" })).toThrow(/RTM_NEWLINK tscni-ifb0: File exists/);
    expect(datagrams.map((d) => d.map((m) => m.type))).toEqual([[RTM.GETLINK]]);
  });

  it("takes the alias off again when a device of that name appeared between the check and the datagram", () => {
    const { sock, datagrams } = fakeKernel((msgs, n) => {
      if (n === 1) return [ack(msgs[0]!, ENODEV)];
      if (n === 2) return [ack(msgs[0]!, EEXIST), ack(msgs[1]!)]; // not created; the SETLINK hit the other device
      return [ack(msgs[0]!)];
    });
    expect(() => new Rtnl(sock).addIfb({ name: "tscni-ifb0", alias: "x" })).toThrow(/File exists/);
    expect(datagrams).toHaveLength(3);
    expect(datagrams[2]!.map((m) => [m.type, attrsOf(m).attrs])).toEqual([[RTM.SETLINK, { ifname: "tscni-ifb0", ifalias: "" }]]);
  });

  it("deletes the device it created when the alias could not be set", () => {
    const { sock, datagrams } = fakeKernel((msgs, n) => {
      if (n === 1) return [ack(msgs[0]!, ENODEV)];
      if (n === 2) return [ack(msgs[0]!), ack(msgs[1]!, 22)];
      return [ack(msgs[0]!)];
    });
    expect(() => new Rtnl(sock).addIfb({ name: "tscni-ifb0", alias: "x" })).toThrow(/RTM_SETLINK tscni-ifb0: Invalid argument/);
    expect(datagrams[2]!.map((m) => m.type)).toEqual([RTM.DELLINK]);
  });
});
