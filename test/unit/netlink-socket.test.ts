// The request/response loop over a fake kernel: multipart dumps across datagrams, stale replies,
// errors with extack in NLMSG_ERROR and NLMSG_DONE, interrupted dumps, truncation. No root.
import { describe, expect, it } from "vitest";
import { attr, encodeBody } from "../../kernel/netlink/attrs";
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST, RTM } from "../../kernel/netlink/constants";
import { NetlinkError } from "../../kernel/netlink/errors";
import { linkBody } from "../../kernel/netlink/link";
import { encodeMessage, parseMessages } from "../../kernel/netlink/message";
import { Rtnl } from "../../kernel/netlink/rtnl";
import { NetlinkSocket, type Transport } from "../../kernel/netlink/socket";

interface Sent { type: number; flags: number; seq: number; payload: Buffer }

/** A scripted kernel: `reply(request, n)` returns the datagrams answering the n-th request. */
function fakeKernel(reply: (req: Sent, n: number) => Buffer[]) {
  const queue: Buffer[] = [];
  const sent: Sent[] = [];
  const transport: Transport = {
    send(buf) {
      const [m] = parseMessages(buf);
      const req = { type: m.type, flags: m.flags, seq: m.seq, payload: Buffer.from(m.payload) };
      sent.push(req);
      queue.push(...reply(req, sent.length));
    },
    // As a write from the thread pool: the kernel has answered by the time it completes.
    sendInBackground(buf) {
      return new Promise((resolve) => setImmediate(() => resolve(transport.send(buf))));
    },
    recv(buf) {
      const d = queue.shift();
      if (!d) throw Object.assign(new Error("recv: timeout"), { errno: 11, code: "EAGAIN", syscall: "recv" });
      d.copy(buf, 0, 0, Math.min(d.length, buf.length));
      return d.length;
    },
    close() {},
  };
  return { sock: new NetlinkSocket(transport), sent };
}

const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
function ack(req: Sent, errno = 0, extack?: string): Buffer {
  const hdr = encodeMessage(req.type, req.flags, req.seq, req.payload).subarray(0, 16);
  const tlv = extack ? attr(1, Buffer.from(`${extack}\0`)) : Buffer.alloc(0);
  return encodeMessage(NLMSG_ERROR, NLM_F_CAPPED | (extack ? NLM_F_ACK_TLVS : 0), req.seq, Buffer.concat([i32(-errno), hdr, tlv]));
}
const linkMsg = (seq: number, index: number, name: string, flags = NLM_F_MULTI) =>
  encodeMessage(RTM.NEWLINK, flags, seq, encodeBody(linkBody, { header: { index, type: 1 }, attrs: { ifname: name, mtu: 1500 } }));
const done = (seq: number, errno = 0, extack?: string) =>
  encodeMessage(NLMSG_DONE, NLM_F_MULTI | (extack ? NLM_F_ACK_TLVS : 0), seq, Buffer.concat([i32(-errno), extack ? attr(1, Buffer.from(`${extack}\0`)) : Buffer.alloc(0)]));

describe("NetlinkSocket", () => {
  it("collects a multipart dump across datagrams and skips stale replies", () => {
    const { sock, sent } = fakeKernel((r) => [
      Buffer.concat([linkMsg(r.seq - 1, 9, "stale"), linkMsg(r.seq, 1, "lo"), linkMsg(r.seq, 2, "eth0")]),
      Buffer.concat([linkMsg(r.seq, 3, "br0"), done(r.seq)]),
    ]);
    const links = new Rtnl(sock).listLinks();
    expect(links.map((l) => l.name)).toEqual(["lo", "eth0", "br0"]);
    expect(sent[0].flags).toBe(NLM_F_REQUEST | NLM_F_DUMP);
  });

  it("returns a GET reply that precedes the ACK and uses increasing sequence numbers", () => {
    const { sock, sent } = fakeKernel((r) => [linkMsg(r.seq, 4, "veth0", 0), ack(r)]);
    const nl = new Rtnl(sock);
    expect(nl.getLink("veth0").index).toBe(4);
    expect(nl.linkIndex("veth0")).toBe(4);
    expect(sent[0].flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect(sent[1].seq).toBe(sent[0].seq + 1);
  });

  it("throws NetlinkError with errno, code, op, target and extack", () => {
    const { sock } = fakeKernel((r) => [ack(r, 17, "Exclusivity flag on")]);
    try {
      new Rtnl(sock).addBridge({ name: "cni0" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NetlinkError);
      expect(e).toMatchObject({ errno: 17, code: "EEXIST", op: "RTM_NEWLINK", target: "cni0", extack: "Exclusivity flag on" });
      expect((e as Error).message).toBe("RTM_NEWLINK cni0: File exists (Exclusivity flag on)");
    }
  });

  it("fails a dump whose NLMSG_DONE carries an error", () => {
    const { sock } = fakeKernel((r) => [Buffer.concat([linkMsg(r.seq, 1, "lo"), done(r.seq, 22, "Invalid header for link dump")])]);
    expect(() => sock.dump({ type: RTM.GETLINK, payload: Buffer.alloc(16) })).toThrow("RTM_GETLINK: Invalid argument (Invalid header for link dump)");
  });

  it("keeps a warning sent with a successful ACK", () => {
    const { sock } = fakeKernel((r) => [ack(r, 0, "quantum of class 10010 is big")]);
    sock.request({ type: RTM.NEWTCLASS, payload: Buffer.alloc(20) });
    expect(sock.lastWarning).toBe("quantum of class 10010 is big");
  });

  it("restarts a dump interrupted by a concurrent change", () => {
    const { sock, sent } = fakeKernel((r, n) => [Buffer.concat([linkMsg(r.seq, n, `try${n}`, NLM_F_MULTI | (n === 1 ? NLM_F_DUMP_INTR : 0)), done(r.seq)])]);
    expect(new Rtnl(sock).listLinks().map((l) => l.name)).toEqual(["try2"]);
    expect(sent).toHaveLength(2);
  });

  it("fails a dump still interrupted after its last retry, rather than return a partial list", () => {
    const { sock, sent } = fakeKernel((r, n) => [Buffer.concat([linkMsg(r.seq, n, `try${n}`, NLM_F_MULTI | NLM_F_DUMP_INTR), done(r.seq)])]);
    expect(() => new Rtnl(sock).listLinks()).toThrow(
      expect.objectContaining({ code: "EINTR", op: "RTM_GETLINK", message: "RTM_GETLINK: Interrupted system call (dump interrupted by concurrent changes 6 times)" }),
    );
    expect(sent).toHaveLength(6);
  });

  it("reports a truncated datagram and a receive timeout as NetlinkErrors", () => {
    const big = fakeKernel(() => [Buffer.alloc((1 << 20) + 16)]);
    expect(() => big.sock.request({ type: RTM.GETLINK, payload: Buffer.alloc(16) })).toThrow(/truncated/);
    const silent = fakeKernel(() => []);
    expect(() => silent.sock.request({ type: RTM.GETLINK, payload: Buffer.alloc(16), target: "x" })).toThrow(
      expect.objectContaining({ code: "EAGAIN", op: "RTM_GETLINK", syscall: "recv", message: "RTM_GETLINK x: Resource temporarily unavailable (recv())" }),
    );
  });

  it("writes a request in the background and reads its ACK after; the socket refuses other use meanwhile", async () => {
    const { sock, sent } = fakeKernel((r) => [ack(r)]);
    const nl = new Rtnl(sock);
    const pending = nl.deleteLinkInBackground("veth9");
    expect(sent).toEqual([]); // not written yet: queued for the thread pool
    expect(() => sock.request({ type: RTM.GETLINK, payload: Buffer.alloc(16) })).toThrow(/busy/);
    await pending;
    expect(sent.map((s) => [s.type, s.flags])).toEqual([[RTM.DELLINK, NLM_F_REQUEST | NLM_F_ACK]]);
    sock.request({ type: RTM.GETLINK, payload: Buffer.alloc(16) }); // usable again
    expect(sent).toHaveLength(2);
  });

  it("reports the kernel's refusal, a failed write and a truncated answer of a background request", async () => {
    const refused = fakeKernel((r) => [ack(r, 19)]);
    await expect(new Rtnl(refused.sock).deleteLinkInBackground("veth9")).rejects.toMatchObject({ code: "ENODEV", op: "RTM_DELLINK", target: "veth9" });
    const big = fakeKernel(() => [Buffer.alloc((1 << 20) + 16)]);
    await expect(big.sock.requestInBackground({ type: RTM.DELLINK, payload: Buffer.alloc(16), target: "veth9" })).rejects.toMatchObject({ code: "EMSGSIZE", extack: `reply of ${(1 << 20) + 16} bytes truncated` });
    const broken = new NetlinkSocket({
      send() {},
      sendInBackground: () => Promise.reject(Object.assign(new Error("write: bad fd"), { errno: 9, syscall: "write" })),
      recv: () => 0,
      close() {},
    });
    await expect(broken.requestInBackground({ type: RTM.DELLINK, payload: Buffer.alloc(16), target: "veth9" })).rejects.toMatchObject({
      code: "EBADF", op: "RTM_DELLINK", syscall: "write", message: "RTM_DELLINK veth9: Bad file descriptor (write())",
    });
    const syncOnly = new NetlinkSocket({ send() {}, recv: () => 0, close() {} });
    await expect(syncOnly.requestInBackground({ type: RTM.DELLINK, payload: Buffer.alloc(16) })).rejects.toThrow(/cannot send in the background/);
  });

  it("refuses use after close", () => {
    const { sock } = fakeKernel(() => []);
    sock.close();
    expect(sock.closed).toBe(true);
    expect(() => sock.request({ type: RTM.GETLINK, payload: Buffer.alloc(16) })).toThrow(/closed/);
  });
});
