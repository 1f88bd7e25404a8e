// One connection as a daemon worker serves it (cli/daemon/session.ts), against fake sockets: who
// gets an ack, when a request runs (only after its ack was delivered), what is answered, and how
// the result is counted. The real sockets are kernel/unix-socket.ts; the daemon tests drive those.
import { describe, expect, it } from "vitest";
import { Ack, encodeAck, encodeRequest, parseAnswer, type Request } from "../../cli/daemon/protocol";
import { type Outcome, type SessionDeps, describeRequest, serveConnection } from "../../cli/daemon/session";
import type { Received, SocketOps } from "../../kernel/unix-socket";

const DIGEST = "d".repeat(32);
const CONN = 7;
const NS_FD = 9;

interface FakeConn {
  /** Chunks the peer sends (with descriptors), in order; then end of stream. */
  incoming: { bytes: Buffer; fds?: number[] }[];
  uid?: number;
  pid?: number;
  /** The peer hangs up after this many of our sendAll calls (none: never). */
  goneAfterSends?: number;
  /** A read that would wait: time the fake clock by this much and time out. */
  stall?: boolean;
}

function fake(c: FakeConn, over: Partial<SessionDeps> = {}) {
  let now = 1_000;
  const sent: Buffer[] = [];
  const ran: Request[] = [];
  const accepted: string[] = [];
  let sends = 0;
  const sockets: SocketOps = {
    listen: () => -1,
    accept: () => -1,
    peerCred: () => ({ pid: c.pid ?? 42, uid: c.uid ?? 0, gid: 0 }),
    recv: (_fd, into, timeoutMs): Received => {
      const next = c.incoming.shift();
      if (!next) {
        if (c.stall) {
          now += timeoutMs;
          return { n: -1, fds: [] };
        }
        return { n: 0, fds: [] };
      }
      next.bytes.copy(into);
      return { n: next.bytes.length, fds: next.fds ?? [] };
    },
    sendAll: (_fd, buf) => {
      if (c.goneAfterSends !== undefined && sends >= c.goneAfterSends) return false;
      sends++;
      sent.push(Buffer.from(buf));
      return true;
    },
    sendNoWait: () => -1,
    peerGone: () => c.goneAfterSends !== undefined && sends >= c.goneAfterSends,
    close: () => {},
  };
  const deps: SessionDeps = {
    sockets,
    digest: DIGEST,
    ownNetIno: 100,
    netInoOf: (pid) => (pid === 42 ? 100 : 200),
    servesName: (n) => n === "bridge",
    limits: { maxRequestBytes: 1 << 16, readDeadlineMs: 500, replyTimeoutMs: 500 },
    now: () => now,
    onAccepted: (i) => accepted.push(`${i.plugin} ${i.verb}`),
    run: async (req): Promise<Outcome> => {
      ran.push(req);
      return { exit: 0, stdout: "{}", stderr: "" };
    },
    claimReply: () => true,
    abandoned: () => false,
    ...over,
  };
  const answer = () => parseAnswer(Buffer.concat(sent));
  return { deps, sent, ran, accepted, answer, serve: (fds: number[] = []) => serveConnection(CONN, deps, fds) };
}

const request = (over: Partial<Request> = {}) =>
  encodeRequest({ digest: DIGEST, argv0: "bridge", env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x" }, stdin: Buffer.from('{"name":"net1"}'), ...over });

describe("daemon session", () => {
  it("acks, runs and answers a well-formed request from a root peer in our namespace", async () => {
    const f = fake({ incoming: [{ bytes: request(), fds: [NS_FD] }] });
    const fds: number[] = [];
    expect(await f.serve(fds)).toBe("served");
    expect(f.answer()).toEqual({ ack: Ack.Accepted, reply: { exit: 0, stdout: "{}", stderr: "" } });
    expect(f.ran.map((r) => r.argv0)).toEqual(["bridge"]);
    expect(f.accepted).toEqual(["bridge ADD"]);
    expect(fds).toEqual([NS_FD]); // handed back to the caller, who closes it
  });

  it("reads a request that arrives in pieces", async () => {
    const bytes = request();
    const f = fake({ incoming: [{ bytes: bytes.subarray(0, 5) }, { bytes: bytes.subarray(5, 60) }, { bytes: bytes.subarray(60) }] });
    expect(await f.serve()).toBe("served");
  });

  it("closes on a non-root peer without a word, and runs nothing", async () => {
    const f = fake({ incoming: [{ bytes: request() }], uid: 1000 });
    expect(await f.serve()).toBe("refused");
    expect(f.sent).toEqual([]);
    expect(f.ran).toEqual([]);
  });

  it("refuses (the shim falls back) a request that does not arrive within the read deadline", async () => {
    const f = fake({ incoming: [{ bytes: request().subarray(0, 20) }], stall: true });
    expect(await f.serve()).toBe("refused");
    expect(f.answer()).toEqual({ ack: Ack.Refused });
    expect(f.ran).toEqual([]);
  });

  it("refuses a request over the size limit before reading it", async () => {
    const f = fake({ incoming: [{ bytes: request({ stdin: Buffer.alloc(1 << 17) }).subarray(0, 1 << 15) }] });
    expect(await f.serve()).toBe("refused");
    expect(f.answer()).toEqual({ ack: Ack.Refused });
  });

  it("drops a connection that is not speaking the protocol", async () => {
    const f = fake({ incoming: [{ bytes: Buffer.from("GET / HTTP/1.0\r\n\r\n0123456789012345678901234567890123") }] });
    expect(await f.serve()).toBe("refused");
    expect(f.sent).toEqual([]);
  });

  it("answers 'other build' to a shim of another build", async () => {
    const f = fake({ incoming: [{ bytes: request({ digest: "e".repeat(32) }) }] });
    expect(await f.serve()).toBe("other-build");
    expect(f.answer()).toEqual({ ack: Ack.OtherBuild });
    expect(f.ran).toEqual([]);
  });

  it("answers 'other namespace' to a caller in another network namespace, or one it cannot see", async () => {
    for (const pid of [43, 0]) {
      const f = fake({ incoming: [{ bytes: request() }], pid });
      expect(await f.serve()).toBe("refused");
      expect(f.answer()).toEqual({ ack: Ack.OtherNamespace });
    }
  });

  it("refuses a name that is no plugin of ours", async () => {
    const f = fake({ incoming: [{ bytes: request({ argv0: "macvlan" }) }] });
    expect(await f.serve()).toBe("refused");
    expect(f.answer()).toEqual({ ack: Ack.Refused });
  });

  it("never runs a request whose ack could not be delivered (its shim may run it itself)", async () => {
    const f = fake({ incoming: [{ bytes: request() }], goneAfterSends: 0 });
    expect(await f.serve()).toBe("cancelled");
    expect(f.ran).toEqual([]);
  });

  it("counts a request whose caller left while it ran as cancelled, and passes the cancellation in", async () => {
    let seen: boolean | undefined;
    const f = fake({ incoming: [{ bytes: request() }], goneAfterSends: 1 }, {
      run: async (_r, _fd, _deadline, cancelled) => {
        seen = cancelled();
        return { exit: 1, stdout: '{"code":11}', stderr: "" };
      },
    });
    expect(await f.serve()).toBe("cancelled");
    expect(seen).toBe(true);
  });

  it("writes nothing when the daemon already answered for the request (claimReply refused)", async () => {
    const f = fake({ incoming: [{ bytes: request() }] }, { claimReply: () => false });
    expect(await f.serve()).toBe("abandoned");
    expect(f.sent).toEqual([encodeAck(Ack.Accepted)]); // the ack only
  });

  it("tells a failure from a request that ran out of time", async () => {
    const failed = fake({ incoming: [{ bytes: request() }] }, { run: async () => ({ exit: 1, stdout: "{}", stderr: "" }) });
    expect(await failed.serve()).toBe("failed");
    const late = fake({ incoming: [{ bytes: request({ env: { CNI_COMMAND: "ADD", TSCNI_REQUEST_TIMEOUT_MS: "10" } }) }] });
    late.deps.run = async () => {
      const now = late.deps.now;
      late.deps.now = () => now() + 11;
      return { exit: 1, stdout: "{}", stderr: "" };
    };
    expect(await late.serve()).toBe("timed-out");
  });

  it("describes a request for operators: plugin, verb, container, network, deadline from its environment", () => {
    const r: Request = { digest: DIGEST, argv0: "bridge", env: { CNI_COMMAND: "DEL", CNI_CONTAINERID: "abc", TSCNI_REQUEST_TIMEOUT_MS: "3000" }, stdin: Buffer.from('{"name":"pods"}') };
    expect(describeRequest(r, 5_000)).toEqual({ plugin: "bridge", verb: "DEL", containerID: "abc", network: "pods", deadline: 8_000 });
    expect(describeRequest({ ...r, stdin: Buffer.from("not json") }, 0).network).toBe("");
  });
});
