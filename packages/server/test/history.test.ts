import { type AssuredErrorData, decode, encode, MemoryEventStore } from "@assured/core";
import { FRAMES, type HistoryReply, packWireRecords, unpackRecords } from "@assured/core/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { historyReplyCost } from "../src/rate-limit.js";
import { assuredAuth, range, seed, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const KiB = 1024;

async function withEvents(count: number, limits = {}) {
  const store = new MemoryEventStore();
  await seed(store, "s", count);
  server = await startAssured({
    store,
    limits,
    authorize: (_socket, stream) => !stream.startsWith("secret"),
  });
  await seed(store, "secret", 3);
  return { store, peer: await server.connect(assuredAuth()) };
}

function offsetsOf(reply: HistoryReply): number[] {
  if (!reply.ok) throw new Error(`refused: ${reply.error.code}`);
  return unpackRecords("s", reply.records).records.map((r) => r.offset);
}

describe("assured:history", () => {
  it("answers the newest records below `before` (absent: up to the head), in offset order", async () => {
    const { peer } = await withEvents(30);
    const newest = await peer.request<HistoryReply>(FRAMES.history, { stream: "s", limit: 5 });
    expect(newest).toMatchObject({ ok: true, head: 30, earliest: 1 });
    expect(offsetsOf(newest)).toEqual(range(26, 30));
    const older = await peer.request<HistoryReply>(FRAMES.history, {
      stream: "s",
      before: 26,
      limit: 10,
    });
    expect(offsetsOf(older)).toEqual(range(16, 25));
    if (!older.ok) throw new Error("refused");
    const records = unpackRecords("s", older.records).records;
    expect(records.map((r) => decode(r.payload))).toEqual(range(16, 25));
    const first = await peer.request<HistoryReply>(FRAMES.history, {
      stream: "s",
      before: 3,
      limit: 10,
    });
    expect(offsetsOf(first)).toEqual([1, 2]);
    // A limit above fetchLimit is lowered to it; a `before` past the head reads up to the head.
    const far = await peer.request<HistoryReply>(FRAMES.history, {
      stream: "s",
      before: 1_000,
      limit: 100_000,
    });
    expect(offsetsOf(far)).toEqual(range(1, 30));
    const beyond = await peer.request<HistoryReply>(FRAMES.history, {
      stream: "s",
      before: 10_000,
      limit: 4,
    });
    expect(offsetsOf(beyond)).toEqual(range(27, 30));
    // The socket subscribed to nothing and got no batch.
    expect(peer.frames(FRAMES.batch)).toEqual([]);
  });

  it("keeps the newest records within maxBatchBytes (at least one)", async () => {
    const { peer, store } = await withEvents(0, { maxBatchBytes: 250, maxPayloadBytes: KiB });
    const payload = encode("x".repeat(95));
    await store.append(
      "s",
      range(1, 5).map(() => ({ name: "e", payload })),
    );
    await store.append("s", [{ name: "e", payload: encode("y".repeat(400)) }]);
    const alone = await peer.request<HistoryReply>(FRAMES.history, { stream: "s", limit: 10 });
    expect(offsetsOf(alone)).toEqual([6]);
    const pair = await peer.request<HistoryReply>(FRAMES.history, {
      stream: "s",
      before: 6,
      limit: 10,
    });
    expect(offsetsOf(pair)).toEqual([4, 5]);
  });

  it("refuses bad frames with typed codes and unreadable streams with UNAUTHORIZED", async () => {
    const { peer } = await withEvents(3);
    const code = async (frame: unknown) => {
      const reply = await peer.request<HistoryReply>(FRAMES.history, frame);
      return reply.ok ? "ok" : reply.error.code;
    };
    expect(await code({ stream: "secret", limit: 1 })).toBe("UNAUTHORIZED");
    expect(await code("s")).toBe("BAD_FRAME");
    expect(await code({ stream: "", limit: 1 })).toBe("INVALID_STREAM");
    expect(await code({ stream: "s" })).toBe("INVALID_ARGUMENT");
    expect(await code({ stream: "s", limit: 0 })).toBe("INVALID_ARGUMENT");
    expect(await code({ stream: "s", limit: 1.5 })).toBe("INVALID_ARGUMENT");
    expect(await code({ stream: "s", limit: 1, before: 0 })).toBe("INVALID_OFFSET");
    expect(await code({ stream: "s", limit: 1, before: -1 })).toBe("INVALID_OFFSET");
    expect(await code({ stream: "s", limit: 1, before: "2" })).toBe("INVALID_OFFSET");
    expect(await code({ stream: "s", limit: 1, before: 2 ** 60 })).toBe("INVALID_OFFSET");
    // Without an ack: an assured:error frame.
    peer.socket.emit(FRAMES.history, { stream: "s", limit: 1 });
    const error = await peer.next<AssuredErrorData>(FRAMES.error);
    expect(error.code).toBe("BAD_FRAME");
    expect(await code({ stream: "s", limit: 3 })).toBe("ok");
  });

  it("G11: is rate limited like a fetch: it reserves its limit and pays for what it read and sent", async () => {
    server = await startAssured({ limits: { tokensPerSecond: 1, burstTokens: 40 } });
    await seed(server.store, "big", 1_000);
    const peer = await server.connect(assuredAuth());
    const code = async (limit: number) => {
      const reply = await peer.request<HistoryReply>(FRAMES.history, { stream: "big", limit });
      return reply.ok ? "ok" : reply.error.code;
    };
    expect(await code(1_000)).toBe("ok"); // 32 tokens: about 8 left
    expect(await code(1_000)).toBe("RATE_LIMITED");
    expect(await code(500)).toBe("RATE_LIMITED"); // 16
    expect(await code(200)).toBe("ok"); // 7: about 1 left
    expect(await code(100)).toBe("RATE_LIMITED"); // 4
  });

  it("G11: the cost of a reply counts the records read (at most the retained ones) and the bytes sent", () => {
    const reply = (head: number, earliest: number, records: number, bytes: number) =>
      ({
        ok: true,
        epoch: "e",
        head,
        earliest,
        // The payload bytes as the records announce them (all on the first record).
        records: packWireRecords(
          Array.from({ length: records }, (_, i) => [1 + i, "i", "n", i === 0 ? bytes : 0, 0]),
          new Uint8Array(bytes),
        ),
      }) as HistoryReply;
    expect(historyReplyCost({ stream: "s", limit: 1_000 }, reply(5_000, 1, 1_000, 0))).toBe(32);
    expect(historyReplyCost({ stream: "s", limit: 1_000 }, reply(10, 1, 10, 0))).toBe(1);
    expect(historyReplyCost({ stream: "s", limit: 64 }, reply(5_000, 1, 1, 1024 * KiB))).toBe(34);
    const refused: HistoryReply = { ok: false, error: { code: "UNAUTHORIZED", message: "no" } };
    expect(historyReplyCost({ stream: "s", limit: 64 }, refused)).toBe(1);
  });
});
