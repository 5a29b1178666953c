import { decode, encode } from "@assured/core";
import {
  batchMessages,
  FRAMES,
  type MessageFrame,
  type ReplyBatchFrame,
  unpackReplyBatch,
} from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { type Peer, range, type StartOptions, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server whose "step" handler records (principal, n) and answers n * 10. */
async function start(options: StartOptions = {}) {
  const ran: number[] = [];
  server = await startAssured(options);
  server.assured.on("step", (n: number) => {
    ran.push(n);
    return n * 10;
  });
  return { server, ran };
}

function message(seq: number, extra: Partial<MessageFrame> = {}): MessageFrame {
  return { id: `m-${seq}`, seq, name: "step", payload: encode(seq), ...extra };
}

/** Every reply of every `assured:replies` frame received so far, in arrival order. */
function replies(peer: Peer): Array<Record<string, unknown>> {
  return peer.frames<ReplyBatchFrame>(FRAMES.replies).flatMap((f) => unpackReplyBatch(f));
}

function connect(s: Started, clientId = newId()) {
  return s.connect({ assured: { v: 2, clientId, subscriptions: [], firstSeq: 1 } });
}

describe("assured:msgs (several messages per packet) and assured:replies", () => {
  it("G8/G10: a batch of messages runs in seq order and its answers come back together in one assured:replies packet", async () => {
    const { server: s, ran } = await start();
    const peer = await connect(s);
    const [batch] = batchMessages(range(1, 5).map((n) => message(n, n > 1 ? { prev: n - 1 } : {})));
    expect(typeof batch!.payloads).toBe("string"); // small: inline, no binary attachment
    peer.socket.emit(FRAMES.messages, batch);
    await peer.until(() => replies(peer).length === 5);
    expect(ran).toEqual(range(1, 5));
    expect(replies(peer).map((r) => [r.id, r.ok, decode(r.payload as Uint8Array)])).toEqual(
      range(1, 5).map((n) => [`m-${n}`, true, n * 10]),
    );
    expect(peer.frames(FRAMES.replies)).toHaveLength(1);
  });

  it("G9/G12: each message of a batch has its own outcome: a malformed one is refused alone, an expired one is EXPIRED, the others run; a resent batch is answered from the dedup store", async () => {
    const { server: s, ran } = await start({ limits: { dedupTtlMs: 60_000 } });
    const peer = await connect(s);
    const frames = [
      message(1),
      { ...message(2, { prev: 1 }), name: "" }, // no valid event name
      message(3, { prev: 2, age: 120_000 }), // older than the dedup window
      message(4, { prev: 3 }),
    ];
    const [batch] = batchMessages(frames);
    peer.socket.emit(FRAMES.messages, batch);
    await peer.until(() => replies(peer).length === 4);
    const byId = new Map(replies(peer).map((r) => [r.id, r]));
    expect(byId.get("m-1")).toMatchObject({ ok: true });
    expect(byId.get("m-2")).toMatchObject({ ok: false, error: { code: "INVALID_ARGUMENT" } });
    expect(byId.get("m-3")).toMatchObject({ ok: false, error: { code: "EXPIRED" } });
    expect(byId.get("m-4")).toMatchObject({ ok: true });
    expect(ran).toEqual([1, 4]);
    // The same batch again (a resend after a lost reply): answers, no second run.
    peer.socket.emit(FRAMES.messages, batchMessages([message(1), message(4)])[0]);
    await peer.until(() => replies(peer).length === 6);
    expect(
      replies(peer)
        .slice(4)
        .map((r) => [r.id, decode(r.payload as Uint8Array)]),
    ).toEqual([
      ["m-1", 10],
      ["m-4", 40],
    ]);
    expect(ran).toEqual([1, 4]);
  });

  it("G11: rate-limit tokens are charged per message of a batch, not per packet", async () => {
    // A message costs 3 tokens: a burst of 9 pays for 3 of the 5.
    const { server: s, ran } = await start({ limits: { burstTokens: 9, tokensPerSecond: 1 } });
    const peer = await connect(s);
    peer.socket.emit(
      FRAMES.messages,
      batchMessages(range(1, 5).map((n) => message(n, n > 1 ? { prev: n - 1 } : {})))[0],
    );
    await peer.until(() => replies(peer).length === 5);
    expect(ran).toEqual([1, 2, 3]);
    const outcome = new Map(
      replies(peer).map((r) => [r.id, r.ok ? "ok" : (r.error as { code: string }).code]),
    );
    // Refusals are answered at arrival, before the results of the messages that run.
    expect(range(1, 5).map((n) => outcome.get(`m-${n}`))).toEqual([
      "ok",
      "ok",
      "ok",
      "RATE_LIMITED",
      "RATE_LIMITED",
    ]);
  });

  it("G10: a message of a batch that skips an earlier unanswered one is OUT_OF_ORDER; the earlier one and the rest of its session still run in order", async () => {
    const { server: s, ran } = await start();
    const peer = await connect(s);
    // seq 2 arrives before seq 1 (its prev): refused, naming what it waits for.
    peer.socket.emit(FRAMES.messages, batchMessages([message(2, { prev: 1 })])[0]);
    await peer.until(() => replies(peer).length === 1);
    expect(replies(peer)[0]).toMatchObject({
      id: "m-2",
      ok: false,
      error: { code: "OUT_OF_ORDER", details: { waitingForSeq: 1 } },
    });
    peer.socket.emit(FRAMES.messages, batchMessages([message(1), message(2, { prev: 1 })])[0]);
    await peer.until(() => replies(peer).length === 3);
    expect(ran).toEqual([1, 2]);
  });

  it("G12: a batch that cannot be split (sizes not matching its payloads) is answered with assured:error BAD_FRAME and runs nothing", async () => {
    const { server: s, ran } = await start();
    const peer = await connect(s);
    const [batch] = batchMessages([message(1)]);
    peer.socket.emit(FRAMES.messages, { ...batch, msgs: [{ ...batch!.msgs[0], size: 99 }] });
    const error = await peer.next<{ code: string }>(FRAMES.error);
    expect(error.code).toBe("BAD_FRAME");
    await peer.roundTrip();
    expect(ran).toEqual([]);
    expect(replies(peer)).toEqual([]);
  });
});
