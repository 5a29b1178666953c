import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  batchMessages,
  batchReplies,
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_MESSAGE_BATCH,
  unpackMessageBatch,
  unpackReplyBatch,
} from "../src/message-batch.js";
import type { MessageFrame, MessageReply } from "../src/protocol.js";
import {
  decodeBase64Table,
  decodeBase64Text,
  encodeBase64,
  encodeBase64Table,
} from "../src/wire-base64.js";
import { INLINE_PAYLOADS_MAX_BYTES } from "../src/wire-records.js";

const sizes = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 280_000 }) },
);
const bytes = sizes.map((n) => new Uint8Array(n).fill(n & 255));

const frame: fc.Arbitrary<MessageFrame> = fc
  .record({
    id: fc.uuid(),
    seq: fc.integer({ min: 1, max: 1_000_000 }),
    name: fc.constantFrom("chat:send", "é", "x"),
    payload: bytes,
    age: fc.option(fc.nat(), { nil: undefined }),
    ttl: fc.option(fc.nat(), { nil: undefined }),
    prev: fc.option(fc.nat(), { nil: undefined }),
  })
  .map((f) => {
    const out: MessageFrame = { id: f.id, seq: f.seq, name: f.name, payload: f.payload };
    if (f.age !== undefined) out.age = f.age;
    if (f.ttl !== undefined) out.ttl = f.ttl;
    if (f.prev !== undefined) out.prev = f.prev;
    return out;
  });

const reply: fc.Arbitrary<MessageReply> = fc.oneof(
  fc.record({ id: fc.uuid(), payload: bytes }).map((r) => ({ ...r, ok: true as const })),
  fc
    .record({ id: fc.uuid(), payload: bytes })
    .map((r) => ({ ...r, ok: false as const, stored: true as const })),
  fc.record({ id: fc.uuid() }).map((r) => ({
    ...r,
    ok: false as const,
    error: { code: "TIMEOUT" as const, message: "later" },
  })),
);

/** What a JSON round trip (Socket.IO's packet encoding) leaves of a frame, binary kept. */
function overTheWire<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (_, v) => (v instanceof Uint8Array ? "BIN" : v)),
    (_, v) => (v === "BIN" ? (value as { payloads: unknown }).payloads : v),
  ) as T;
}

const payloadBytes = (p: string | Uint8Array) =>
  typeof p === "string" ? (decodeBase64Text(p)?.byteLength ?? -1) : p.byteLength;

describe("assured:msgs and assured:replies packing", () => {
  it("G10: messages split into batches in send order, each message's fields and payload intact; small payloads inline as base64, large ones one binary attachment", () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 150 }), (frames) => {
        const batches = batchMessages(frames);
        const back: Array<Record<string, unknown>> = [];
        for (const batch of batches) {
          expect(batch.msgs.length).toBeGreaterThan(0);
          expect(batch.msgs.length).toBeLessThanOrEqual(MAX_MESSAGE_BATCH);
          const total = payloadBytes(batch.payloads);
          if (batch.msgs.length > 1) expect(total).toBeLessThanOrEqual(MAX_BATCH_PAYLOAD_BYTES);
          expect(typeof batch.payloads === "string").toBe(total <= INLINE_PAYLOADS_MAX_BYTES);
          back.push(...unpackMessageBatch(overTheWire(batch)));
        }
        expect(back.length).toBe(frames.length);
        back.forEach((m, i) => {
          const { payload, ...fields } = frames[i]!;
          const { payload: got, ...gotFields } = m;
          expect(gotFields).toEqual(fields);
          expect(Buffer.from(got as Uint8Array).equals(payload)).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("every reply keeps its id, outcome, error and payload, in order", () => {
    fc.assert(
      fc.property(fc.array(reply, { maxLength: 300 }), (replies) => {
        const back = batchReplies(replies).flatMap((b) => unpackReplyBatch(overTheWire(b)));
        expect(back.length).toBe(replies.length);
        back.forEach((r, i) => {
          const want = replies[i]!;
          const { payload: got, ...gotFields } = r;
          const { payload, ...fields } = want as MessageReply & { payload?: Uint8Array };
          expect(gotFields).toEqual(fields);
          if (payload !== undefined) {
            expect(Buffer.from(got as Uint8Array).equals(payload)).toBe(true);
          } else expect(got).toBeUndefined();
        });
      }),
      { numRuns: 100 },
    );
  });

  it("G12: a batch whose sizes do not add up, with too many messages, or whose payloads are not base64 or binary, is BAD_FRAME", () => {
    const [good] = batchMessages([{ id: "a", seq: 1, name: "n", payload: new Uint8Array([1, 2]) }]);
    const bad = (value: unknown) => {
      try {
        unpackMessageBatch(value);
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return "accepted";
    };
    expect(bad(good)).toBe("accepted");
    expect(bad({ ...good, msgs: [{ ...good!.msgs[0], size: 3 }] })).toBe("BAD_FRAME");
    expect(bad({ ...good, msgs: [{ ...good!.msgs[0], size: 1 }] })).toBe("BAD_FRAME");
    expect(bad({ ...good, msgs: [{ ...good!.msgs[0], size: -1 }] })).toBe("BAD_FRAME");
    expect(bad({ ...good, payloads: "a!==" })).toBe("BAD_FRAME");
    expect(bad({ ...good, payloads: 12 })).toBe("BAD_FRAME");
    expect(bad({ msgs: [], payloads: "" })).toBe("BAD_FRAME");
    expect(bad({ msgs: ["x"], payloads: "" })).toBe("BAD_FRAME");
    const many = Array.from({ length: MAX_MESSAGE_BATCH + 1 }, (_, i) => ({ id: `${i}`, size: 0 }));
    expect(bad({ msgs: many, payloads: "" })).toBe("BAD_FRAME");
    expect(bad(null)).toBe("BAD_FRAME");
    expect(() =>
      unpackReplyBatch({ replies: [{ id: "a", ok: true, size: 5 }], payloads: "" }),
    ).toThrow(expect.objectContaining({ code: "BAD_FRAME" }));
  });

  it("the portable base64 codec (browsers) agrees with Node's and refuses what is not base64", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const text = encodeBase64Table(data);
        expect(text).toBe(Buffer.from(data).toString("base64"));
        expect(encodeBase64(data)).toBe(text);
        expect([...(decodeBase64Table(text, data.byteLength) ?? [])]).toEqual([...data]);
        expect([...(decodeBase64Text(text) ?? [])]).toEqual([...data]);
      }),
    );
    for (const wrong of ["a", "ab=c", "a*bc", "abc===", "====", "ab\ncd=="]) {
      expect(decodeBase64Text(wrong)).toBeUndefined();
      expect(decodeBase64Table(wrong, 2)).toBeUndefined();
    }
  });
});
