// cli/daemon/protocol.ts, the wire format between the shim and `tscni daemon`: the request encoder and
// its incremental decoder, the ack and reply and the shim's view of them, byte layouts as the header
// comment describes them, and the C shim (native/shim/tscni_shim.c, the other side) using the same
// magic strings and digest length. Pure; no root, no sockets.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ACK_MAGIC,
  Ack,
  DIGEST_LEN,
  ProtocolError,
  REPLY_MAGIC,
  REQUEST_MAGIC,
  type Request,
  encodeAck,
  encodeReply,
  encodeRequest,
  parseAnswer,
  parseRequest,
} from "../../cli/daemon/protocol";
import { caught } from "../helpers/caught";

const DIGEST = "0123456789abcdef0123456789abcdef";
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
};
const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8");
  return Buffer.concat([u32(b.length), b]);
};
/** A request laid out by hand, as the header comment describes it (entries need not contain '='). */
const rawRequest = (argv0: string, entries: string[], stdin: Buffer | string, magic = REQUEST_MAGIC, digest = DIGEST) =>
  Buffer.concat([Buffer.from(magic + digest, "latin1"), str(argv0), u32(entries.length), ...entries.map((e) => str(e)), str(stdin)]);

const request = (r: Partial<Request> = {}): Request => ({ digest: DIGEST, argv0: "bridge", env: {}, stdin: Buffer.alloc(0), ...r });
const roundTrip = (r: Request) => parseRequest(encodeRequest(r));
const protocolError = (fn: () => unknown) => caught<ProtocolError>(fn);

/** A small deterministic generator, so that a failing chunking can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe("request: encodeRequest / parseRequest", () => {
  it("lays a request out as the header says: magic, digest, argv0, envc, K=V entries, stdin", () => {
    const r = request({ env: { CNI_COMMAND: "ADD" }, stdin: Buffer.from("{}") });
    expect(encodeRequest(r)).toEqual(rawRequest("bridge", ["CNI_COMMAND=ADD"], "{}"));
  });

  it("round-trips argv0, an environment with '=' in values and an empty value, and stdin", () => {
    const r = request({
      argv0: "host-local",
      env: { CNI_COMMAND: "ADD", CNI_ARGS: "K8S_POD_NAME=web-0;IgnoreUnknown=1", EMPTY: "", PATH: "/usr/sbin:/usr/bin" },
      stdin: Buffer.from(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "host-local" })),
    });
    expect(roundTrip(r)).toEqual({ request: r });
  });

  it("round-trips an empty environment, an empty argv0 and an empty stdin", () => {
    const r = request({ argv0: "", env: {}, stdin: Buffer.alloc(0) });
    expect(roundTrip(r)).toEqual({ request: r });
    expect(encodeRequest(r).length).toBe(REQUEST_MAGIC.length + DIGEST_LEN + 4 + 4 + 4);
  });

  it("keeps binary stdin byte for byte (every byte value, not valid UTF-8)", () => {
    const stdin = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    const parsed = roundTrip(request({ stdin }));
    expect("request" in parsed && parsed.request.stdin.equals(stdin)).toBe(true);
  });

  it("round-trips UTF-8 in argv0, names, values and stdin, with lengths counted in bytes", () => {
    const r = request({ argv0: "brücke", env: { NAME_Ä: "名前=値 🚀" }, stdin: Buffer.from('{"name":"réseau-ü"}', "utf8") });
    expect(roundTrip(r)).toEqual({ request: r });
    expect(encodeRequest(r).readUInt32LE(REQUEST_MAGIC.length + DIGEST_LEN)).toBe(Buffer.byteLength("brücke"));
  });

  it("copies stdin out of the buffer it was fed (the caller may reuse that buffer)", () => {
    const buf = encodeRequest(request({ stdin: Buffer.from("abc") }));
    const parsed = parseRequest(buf);
    buf.fill(0);
    expect("request" in parsed && parsed.request.stdin.toString()).toBe("abc");
  });

  it("skips environment entries without a name before '=' (none, or a leading '=')", () => {
    const parsed = parseRequest(rawRequest("bridge", ["NOEQUALS", "=leading", "GOOD=1", ""], "x"));
    expect(parsed).toEqual({ request: request({ env: { GOOD: "1" }, stdin: Buffer.from("x") }) });
  });

  it("takes the first of a name given twice, as getenv() and the fallback's process.env do", () => {
    const parsed = parseRequest(rawRequest("bridge", ["CNI_NETNS=/first", "CNI_NETNS=/second", "A=1"], ""));
    expect("request" in parsed && parsed.request.env).toEqual({ CNI_NETNS: "/first", A: "1" });
  });

  it("refuses to encode a digest that is not DIGEST_LEN characters", () => {
    for (const digest of [DIGEST.slice(1), `${DIGEST}0`, ""]) {
      const e = protocolError(() => encodeRequest(request({ digest })));
      expect([e.name, e.message]).toEqual(["ProtocolError", `digest must be ${DIGEST_LEN} characters`]);
    }
  });

  it("takes the digest as the 32 bytes after the magic", () => {
    const parsed = parseRequest(rawRequest("bridge", [], "", REQUEST_MAGIC, "ffffffffffffffffffffffffffffffff"));
    expect("request" in parsed && parsed.request.digest).toBe("ffffffffffffffffffffffffffffffff");
  });

  it("rejects a wrong magic once the header is in", () => {
    const e = protocolError(() => parseRequest(rawRequest("bridge", [], "", "TSCNIQ02")));
    expect([e.name, e.message]).toEqual(["ProtocolError", "not a tscni request"]);
    expect(() => parseRequest(rawRequest("bridge", [], "", "TSCNIA01"))).toThrow(ProtocolError);
  });

  it("rejects bytes after the request", () => {
    const buf = Buffer.concat([encodeRequest(request({ stdin: Buffer.from("{}") })), Buffer.from("xyz")]);
    const e = protocolError(() => parseRequest(buf));
    expect([e.name, e.message]).toEqual(["ProtocolError", "3 bytes after the request"]);
  });
});

describe("request: incremental decoding", () => {
  const r = request({ env: { A: "b=c", CNI_COMMAND: "DEL" }, stdin: Buffer.from('{"cniVersion":"1.1.0"}') });
  const full = encodeRequest(r);

  it("fed exactly what it asks for, asks field by field and ends on the last byte", () => {
    const needs: number[] = [];
    let have = 0;
    for (;;) {
      const p = parseRequest(full.subarray(0, have));
      if ("request" in p) {
        expect(p.request).toEqual(r);
        break;
      }
      needs.push(p.need);
      have += p.need;
      expect(have).toBeLessThanOrEqual(full.length); // never asks for a byte past the request
    }
    expect(have).toBe(full.length);
    // header, argv0 length, argv0, envc, then per entry its length and bytes, stdin length, stdin
    expect(needs).toEqual([40, 4, 6, 4, 4, 5, 4, 15, 4, 22]);
  });

  it("fed one byte at a time, asks for at most what is left, and at least one byte", () => {
    for (let n = 0; n < full.length; n++) {
      const p = parseRequest(full.subarray(0, n));
      expect("need" in p && p.need >= 1 && p.need <= full.length - n).toBe(true);
    }
    expect(parseRequest(full)).toEqual({ request: r });
  });

  it("fed random chunks, asks for at most what is left until the request is whole", () => {
    const big = encodeRequest(request({ env: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`V${i}`, "x".repeat(i)])), stdin: Buffer.alloc(3000, 7) }));
    for (const seed of [1, 2, 3, 42, 1234]) {
      const rand = prng(seed);
      let have = 0;
      while (have < big.length) {
        have = Math.min(big.length, have + 1 + Math.floor(rand() * 200));
        const p = parseRequest(big.subarray(0, have));
        if (have < big.length) expect("need" in p && p.need >= 1 && p.need <= big.length - have).toBe(true);
        else expect("request" in p && p.request.stdin.length).toBe(3000);
      }
    }
  });

  it("reports a declared length before its bytes arrive, so a caller can refuse an oversized request unread", () => {
    const head = Buffer.concat([Buffer.from(REQUEST_MAGIC + DIGEST, "latin1"), str("bridge"), u32(0), u32(100 << 20)]);
    expect(parseRequest(head)).toEqual({ need: 100 << 20 });
  });

  it("asks for one entry at a time however many entries are declared", () => {
    const head = Buffer.concat([Buffer.from(REQUEST_MAGIC + DIGEST, "latin1"), str("bridge"), u32(0xffffffff)]);
    expect(parseRequest(head)).toEqual({ need: 4 });
  });
});

describe("answer: encodeAck / encodeReply / parseAnswer", () => {
  const answer = (exit: number, stdout: string, stderr: string) => Buffer.concat([encodeAck(Ack.Accepted), encodeReply(exit, stdout, stderr)]);

  it("lays out the ack and the reply as the header says", () => {
    expect(encodeAck(Ack.OtherNamespace)).toEqual(Buffer.concat([Buffer.from(ACK_MAGIC, "latin1"), u32(3)]));
    const exit = Buffer.alloc(4);
    exit.writeInt32LE(-1, 0);
    expect(encodeReply(-1, "ü", "e")).toEqual(Buffer.concat([Buffer.from(REPLY_MAGIC, "latin1"), exit, u32(2), u32(1), Buffer.from("üe", "utf8")]));
  });

  it("a refused ack carries no reply, whatever follows it", () => {
    for (const status of [Ack.OtherBuild, Ack.Refused, Ack.OtherNamespace]) {
      expect(parseAnswer(encodeAck(status))).toEqual({ ack: status });
    }
    expect(parseAnswer(Buffer.concat([encodeAck(Ack.Refused), encodeReply(0, "x", "")]))).toEqual({ ack: Ack.Refused });
  });

  it("round-trips an accepted ack and its reply", () => {
    expect(parseAnswer(answer(0, '{"cniVersion":"1.1.0"}\n', "warning: ü\n"))).toEqual({
      ack: Ack.Accepted,
      reply: { exit: 0, stdout: '{"cniVersion":"1.1.0"}\n', stderr: "warning: ü\n" },
    });
  });

  it("is undefined at every length short of a whole answer (an accepted ack alone included)", () => {
    const full = answer(1, "out", "err");
    for (let n = 0; n < full.length; n++) expect(parseAnswer(full.subarray(0, n))).toBeUndefined();
    expect(parseAnswer(encodeAck(Ack.Accepted))).toBeUndefined();
    expect(parseAnswer(encodeAck(Ack.Refused).subarray(0, 11))).toBeUndefined();
  });

  it("keeps negative exit codes, and wraps others to 32 bits", () => {
    for (const exit of [-1, -2147483648, 2147483647, 1, 0]) expect(parseAnswer(answer(exit, "", ""))?.reply?.exit).toBe(exit);
    expect(parseAnswer(answer(2 ** 32 + 5, "", ""))?.reply?.exit).toBe(5);
  });

  it("carries a large stdout, its length counted in bytes", () => {
    const stdout = "é".repeat(3 << 20); // 6 MiB of UTF-8
    const buf = answer(0, stdout, "tail");
    expect(buf.readUInt32LE(12 + 12)).toBe(6 << 20);
    const parsed = parseAnswer(buf);
    expect([parsed?.reply?.stdout.length, parsed?.reply?.stdout === stdout, parsed?.reply?.stderr]).toEqual([3 << 20, true, "tail"]);
  });

  it("rejects a wrong ack magic and a wrong reply magic", () => {
    const badAck = Buffer.concat([Buffer.from("TSCNIX01", "latin1"), u32(0)]);
    expect([protocolError(() => parseAnswer(badAck)).message]).toEqual(["not a tscni ack"]);
    const badReply = Buffer.concat([encodeAck(Ack.Accepted), Buffer.from("TSCNIX01", "latin1"), Buffer.alloc(12)]);
    expect([protocolError(() => parseAnswer(badReply)).message]).toEqual(["not a tscni reply"]);
  });
});

describe("the C shim speaks the same protocol", () => {
  const shim = fs.readFileSync(path.resolve(__dirname, "../../native/shim/tscni_shim.c"), "utf8");

  it("uses protocol.ts's magic strings", () => {
    expect([REQUEST_MAGIC, ACK_MAGIC, REPLY_MAGIC]).toEqual(["TSCNIQ01", "TSCNIA01", "TSCNIR01"]);
    for (const magic of [REQUEST_MAGIC, ACK_MAGIC, REPLY_MAGIC]) expect(shim).toContain(`"${magic}"`);
  });

  it("uses protocol.ts's digest length", () => {
    expect(/^#define\s+DIGEST_LEN\s+(\d+)\b/m.exec(shim)?.[1]).toBe(String(DIGEST_LEN));
  });
});
