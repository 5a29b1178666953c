import { type AssuredErrorData, encode } from "@assured/core";
import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Peer, range, startAssured } from "./harness.js";

/**
 * Property test of send order (G10) over a real Socket.IO connection: whatever order the
 * messages of a session arrive in (a reconnect can put an old send buffer behind the resends),
 * duplicates included, a client that follows the protocol's rule — resend a message refused
 * `OUT_OF_ORDER` after the one it waits for — gets every message handled exactly once, in
 * `seq` order.
 */

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started;
/** Handler calls per principal (one principal per generated case), in order. */
const ran = new Map<string, number[]>();

beforeAll(async () => {
  server = await startAssured();
  server.assured.on("step", async (seq: number, { principal }) => {
    const list = ran.get(principal) ?? [];
    list.push(seq);
    ran.set(principal, list);
    return seq;
  });
});
afterAll(async () => {
  await server.close();
});

/** n messages, and the order their first copies reach the server: each seq once or more. */
const arrivals = fc.integer({ min: 1, max: 7 }).chain((n) =>
  fc
    .array(fc.integer({ min: 1, max: n }), { maxLength: n })
    .chain((extra) => {
      const copies = [...range(1, n), ...extra];
      return fc.shuffledSubarray(copies, { minLength: copies.length, maxLength: copies.length });
    })
    .map((order) => ({ n, order })),
);

/**
 * Plays a client: emits `order` at once, then reacts to replies. A message refused
 * `OUT_OF_ORDER` is resent right away if the one it waits for is on its way (sent and not
 * itself refused since), else right after that one is resent. Resolves once every seq 1..n has
 * its answer.
 */
function playClient(peer: Peer, n: number, order: number[]): Promise<void> {
  const answered = new Set<number>();
  /** Refused, not resent yet: waiting for the seq that is the key. */
  const waitingFor = new Map<number, number[]>();
  const refused = new Set<number>();
  return new Promise<void>((resolve, reject) => {
    /** The closest earlier seq still unanswered, as the client's outbox names it. */
    const prevOf = (seq: number) => {
      for (let s = seq - 1; s >= 1; s--) if (!answered.has(s)) return { prev: s };
      return {};
    };
    const emit = (seq: number) => {
      refused.delete(seq);
      peer
        .request<MessageReply>(FRAMES.message, {
          id: `m-${seq}`,
          seq,
          name: "step",
          payload: encode(seq),
          ...prevOf(seq),
        })
        .then((reply) => onReply(seq, reply), reject);
      const behind = waitingFor.get(seq) ?? [];
      waitingFor.delete(seq);
      for (const next of behind) emit(next);
    };
    const onReply = (seq: number, reply: MessageReply) => {
      if (reply.ok) {
        answered.add(seq);
        if (answered.size === n) resolve();
        return;
      }
      const error = (reply as { error?: AssuredErrorData }).error;
      if (error?.code !== "OUT_OF_ORDER") {
        reject(new Error(`seq ${seq}: unexpected reply ${JSON.stringify(reply)}`));
        return;
      }
      const waitingForSeq = (error.details as { waitingForSeq: number }).waitingForSeq;
      if (!(waitingForSeq < seq)) reject(new Error(`seq ${seq} waits for ${waitingForSeq}`));
      if (refused.has(seq) || answered.has(seq)) return; // a copy is already waiting or done
      refused.add(seq);
      if (refused.has(waitingForSeq)) {
        waitingFor.set(waitingForSeq, [...(waitingFor.get(waitingForSeq) ?? []), seq]);
      } else emit(seq);
    };
    for (const seq of order) emit(seq);
  });
}

describe("G10: send order is wire order (property)", () => {
  it("G10: any arrival order with duplicates, resent by the client's rule, runs 1..n each once, in order", async () => {
    await fc.assert(
      fc.asyncProperty(arrivals, async ({ n, order }) => {
        const clientId = newId();
        const peer = await server.connect({
          assured: { v: 2, clientId, subscriptions: [], firstSeq: 1 },
        });
        try {
          await playClient(peer, n, order);
          await peer.roundTrip();
          expect(ran.get(clientId)).toEqual(range(1, n));
        } finally {
          peer.socket.disconnect();
        }
      }),
      { numRuns: 60 },
    );
  });
});
