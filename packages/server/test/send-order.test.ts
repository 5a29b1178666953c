import { type AssuredErrorData, encode, MemoryDedupStore } from "@assured/core";
import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { type DedupStore, newId } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { type Peer, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** `auth` of a client whose outbox session waits for `firstSeq` (send order, G10). */
function orderedAuth(firstSeq: unknown) {
  return { assured: { v: 2, clientId: newId(), subscriptions: [], firstSeq } };
}

/** Sends `seq`, naming `prev` (default `seq - 1`) as its closest earlier unanswered message. */
function send(
  peer: Peer,
  seq: number,
  id = `m-${seq}`,
  prev: number | undefined = seq > 1 ? seq - 1 : undefined,
): Promise<MessageReply> {
  return peer.request<MessageReply>(FRAMES.message, {
    id,
    seq,
    name: "record",
    payload: encode(seq),
    ...(prev === undefined ? {} : { prev }),
  });
}

const errorOf = (reply: MessageReply) => (reply as { error?: AssuredErrorData }).error;

async function startRecording(options: Parameters<typeof startAssured>[0] = {}) {
  server = await startAssured(options);
  const ran: number[] = [];
  server.assured.on("record", async (seq: number) => {
    ran.push(seq);
    return seq;
  });
  return { started: server, ran };
}

describe("G10: send order is wire order", () => {
  it("G10: a seq that skips an earlier one is OUT_OF_ORDER (retryable) and not run; resent in order, both run in order", async () => {
    const { started, ran } = await startRecording();
    const peer = await started.connect(orderedAuth(1));
    const early = await send(peer, 2);
    expect(early).toMatchObject({ id: "m-2", ok: false });
    expect(errorOf(early)).toEqual({
      code: "OUT_OF_ORDER",
      message: expect.stringContaining("message seq 2 arrived before seq 1 of the same session"),
      details: { waitingForSeq: 1 },
    });
    expect(ran).toEqual([]);
    const [first, second] = await Promise.all([send(peer, 1), send(peer, 2)]);
    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: true });
    // Nothing is held back for the refused copy of seq 2 (the retry barrier never saw it).
    expect(await send(peer, 3)).toMatchObject({ ok: true });
    expect(ran).toEqual([1, 2, 3]);
  });

  it("G10: a message answered in between (a final error at arrival) never blocks the session: prev skips it", async () => {
    const { started, ran } = await startRecording();
    const peer = await started.connect(orderedAuth(1));
    expect(await send(peer, 1)).toMatchObject({ ok: true });
    // seq 2 was answered on an earlier connection; the client's next unanswered is seq 3,
    // sent with prev 1. The old rule (each seq in turn) refused it until a reconnect.
    expect(await send(peer, 3, "m-3", 1)).toMatchObject({ ok: true });
    expect(ran).toEqual([1, 3]);
    // A later message naming an earlier one that never arrived is still refused.
    const early = await send(peer, 9, "m-9", 8);
    expect(errorOf(early)).toMatchObject({ code: "OUT_OF_ORDER", details: { waitingForSeq: 8 } });
  });

  it("G10: firstSeq starts the count where the client's session is; lower seqs are resends", async () => {
    const { started, ran } = await startRecording();
    const peer = await started.connect(orderedAuth(5));
    expect(errorOf(await send(peer, 6))).toMatchObject({ details: { waitingForSeq: 5 } });
    expect(await send(peer, 5)).toMatchObject({ ok: true });
    expect(await send(peer, 3)).toMatchObject({ ok: true }); // a resend: dedup answers it
    expect(await send(peer, 5)).toMatchObject({ ok: true });
    expect(await send(peer, 6)).toMatchObject({ ok: true });
    expect(ran).toEqual([5, 3, 6]);
  });

  it("G10: a message that arrived in order counts as arrived whatever its answer (BAD_FRAME, RATE_LIMITED)", async () => {
    const { started, ran } = await startRecording({
      limits: { burstTokens: 3, tokensPerSecond: 1 },
    });
    const peer = await started.connect(orderedAuth(1));
    // seq 1 arrives in order but is malformed: its final answer does not block seq 2.
    const bad = await peer.request<MessageReply>(FRAMES.message, {
      id: "m-1",
      seq: 1,
      name: "record",
      payload: "not binary",
    });
    expect(errorOf(bad)?.code).toBe("BAD_FRAME");
    // seq 2 arrives in order but the bucket is empty: RATE_LIMITED (the retry barrier holds
    // later ones for its retry). seq 3 is not OUT_OF_ORDER: seq 2 did arrive.
    expect(errorOf(await send(peer, 2))?.code).toBe("RATE_LIMITED");
    expect(errorOf(await send(peer, 3))?.code).toBe("RATE_LIMITED");
    expect(errorOf(await send(peer, 5))).toMatchObject({
      code: "OUT_OF_ORDER",
      details: { waitingForSeq: 4 },
    });
    expect(ran).toEqual([]);
  });

  it("G10: composes with the retry barrier: a refusal at the message's turn holds later ones back, an OUT_OF_ORDER one holds nothing", async () => {
    const inner = new MemoryDedupStore();
    let refusals = 1;
    const flaky: DedupStore = {
      capabilities: inner.capabilities,
      claim: async (...args) => {
        if (refusals-- > 0) throw new Error("connect ECONNREFUSED");
        return inner.claim(...args);
      },
      complete: (...args) => inner.complete(...args),
      release: (...args) => inner.release(...args),
      renew: (...args) => inner.renew(...args),
      close: () => inner.close(),
    };
    const { started, ran } = await startRecording({ dedupStore: flaky });
    const peer = await started.connect(orderedAuth(1));
    // seq 5 skips seq 4: OUT_OF_ORDER. seq 1's claim fails: 2 and 3 wait for its retry.
    const window = await Promise.all([1, 2, 3, 5].map((seq) => send(peer, seq)));
    expect(window.map((reply) => errorOf(reply)?.code)).toEqual([
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
      "OUT_OF_ORDER",
    ]);
    expect(errorOf(window[3]!)?.details).toEqual({ waitingForSeq: 4 });
    expect(ran).toEqual([]);
    // The client resends in seq order, with seq 4 before 5: everything runs, in order.
    const resent = await Promise.all([1, 2, 3, 4, 5].map((seq) => send(peer, seq)));
    expect(resent.every((reply) => reply.ok)).toBe(true);
    expect(ran).toEqual([1, 2, 3, 4, 5]);
  });

  it("G10: without firstSeq (older clients) the arrival order is not checked", async () => {
    const { started, ran } = await startRecording();
    const peer = await started.connect({ assured: { v: 2, clientId: newId(), subscriptions: [] } });
    expect(await send(peer, 7)).toMatchObject({ ok: true });
    expect(await send(peer, 2)).toMatchObject({ ok: true });
    expect(ran).toEqual([7, 2]);
  });

  it("G12: a firstSeq that is not a positive integer refuses the handshake (BAD_FRAME)", async () => {
    const { started, ran } = await startRecording();
    for (const firstSeq of [0, -1, 1.5, "1", null, 2 ** 60]) {
      const peer = await started.connect(orderedAuth(firstSeq));
      const error = await peer.next<AssuredErrorData>(FRAMES.error);
      expect(error.code, JSON.stringify(firstSeq)).toBe("BAD_FRAME");
      expect(error.message).toContain("firstSeq");
      // The refused handshake sets no principal: messages are BAD_FRAME, nothing runs.
      expect(errorOf(await send(peer, 1))?.code).toBe("BAD_FRAME");
    }
    expect(ran).toEqual([]);
    const good = await started.connect(orderedAuth(1));
    expect(await send(good, 1)).toMatchObject({ ok: true });
  });
});
