import { AssuredError, decode, encode } from "@assured/core";
import {
  batchMessages,
  FRAMES,
  memoryStorage,
  Outbox,
  type ReplyBatchFrame,
  unpackReplyBatch,
} from "@assured/core/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Peer, startAssured } from "./harness.js";

/**
 * Model-based test of batched client messages (`assured:msgs` / `assured:replies`) between the
 * client's outbox (core's state machine, driven by explicit time) and a real server over a real
 * Socket.IO connection. Random steps: adds, pumps whose batches are delivered, lost or
 * delivered twice, reconnects (messages in flight resent from the outbox), and time passing
 * (ack timeouts, backoffs). Each message's handler answers, throws an application error
 * (stored, final), or fails retryably once. Model: every message is answered exactly once in
 * the outbox, its handler completes at most once (one retryable failure before at most), with
 * the answer the model predicts, and handler calls follow seq order (G10: a retryable failure
 * holds back later messages until it is handled).
 */

type Kind = "ok" | "fails" | "flaky";
type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started;
/** Per principal: the seq of every handler call, in call order. */
const calls = new Map<string, number[]>();
/** Per principal: seqs whose flaky handler already failed once. */
const failedOnce = new Map<string, Set<number>>();

beforeAll(async () => {
  // Handler failures are the test's own: not logged.
  server = await startAssured({ onError: () => {} });
  server.assured.on("work", async ({ n, kind }: { n: number; kind: Kind }, ctx) => {
    const list = calls.get(ctx.principal) ?? [];
    list.push(n);
    calls.set(ctx.principal, list);
    // Let frames and other turns interleave with the handler.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (kind === "fails") throw new Error(`no ${n}`);
    if (kind === "flaky") {
      const failed = failedOnce.get(ctx.principal) ?? new Set<number>();
      failedOnce.set(ctx.principal, failed);
      if (!failed.has(n)) {
        failed.add(n);
        throw new AssuredError("STORE_UNAVAILABLE", "flaky, once");
      }
    }
    return n * 10;
  });
});
afterAll(async () => {
  await server.close();
});

type Step =
  | { op: "add"; kinds: Kind[] }
  | { op: "pump"; fates: Array<"deliver" | "lose" | "twice"> }
  | { op: "reconnect" }
  | { op: "time"; ms: number };

const kind = fc.constantFrom<Kind>("ok", "ok", "ok", "fails", "flaky");
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("add" as const),
    kinds: fc.array(kind, { minLength: 1, maxLength: 12 }),
  }),
  fc.record({
    op: fc.constant("pump" as const),
    fates: fc.array(fc.constantFrom("deliver", "deliver", "lose", "twice"), {
      minLength: 1,
      maxLength: 4,
    }),
  }),
  fc.constant({ op: "reconnect" as const }),
  fc.record({ op: fc.constant("time" as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
);

/** Drives an outbox over a raw connection; `settled` counts answers per message id. */
class Client {
  peer!: Peer;
  now = 1_000_000;
  readonly settled = new Map<string, unknown[]>();
  /** `assured:replies` frames of the current connection already applied. */
  #applied = 0;

  constructor(readonly outbox: Outbox) {}

  async connect(): Promise<void> {
    this.peer = await server.connect({
      assured: {
        v: 2,
        clientId: this.outbox.clientId,
        subscriptions: [],
        firstSeq: this.outbox.firstSeq(),
      },
    });
    this.#applied = 0;
    this.outbox.connected();
  }

  async reconnect(): Promise<void> {
    this.peer.socket.disconnect();
    this.outbox.disconnected();
    await this.connect();
  }

  /** Sends what is due; each batch delivered, lost or delivered twice by its fate. */
  pump(fates: ReadonlyArray<"deliver" | "lose" | "twice">): void {
    const batches = batchMessages(this.outbox.due(this.now));
    batches.forEach((batch, i) => {
      const fate = fates[i % fates.length]!;
      if (fate === "lose") return;
      this.peer.socket.emit(FRAMES.messages, batch);
      if (fate === "twice") this.peer.socket.emit(FRAMES.messages, batch);
    });
  }

  /** Waits until the server answered what it received so far, and applies the replies. */
  async settle(): Promise<void> {
    await this.peer.roundTrip();
    // Replies leave at the end of a server turn: one more round trip lets them arrive.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.peer.roundTrip();
    const frames = this.peer.frames<ReplyBatchFrame>(FRAMES.replies);
    for (const frame of frames.slice(this.#applied)) {
      for (const reply of unpackReplyBatch(frame)) {
        const outcome = this.outbox.acked(reply, this.now);
        if (outcome.kind !== "settled") continue;
        const r = outcome.result;
        const list = this.settled.get(r.id) ?? [];
        list.push(
          r.ok ? decode(r.payload) : "stored" in r && r.stored ? "app-error" : r.error.code,
        );
        this.settled.set(r.id, list);
      }
    }
    this.#applied = frames.length;
  }
}

describe("batched messages against a model (property)", () => {
  it("G8/G9/G10: random batches, losses, duplicates, reconnects and failures: each message answered once, handled at most once, in seq order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const outbox = await Outbox.open(
          {
            storage: memoryStorage(),
            window: 16,
            ackTimeoutMs: 1_000,
            retry: { initialMs: 50, maxMs: 500, factor: 2 },
          },
          1_000_000,
        );
        const client = new Client(outbox);
        await client.connect();
        const expected = new Map<string, { n: number; kind: Kind }>();
        let n = 0;
        try {
          for (const s of steps) {
            if (s.op === "add") {
              for (const k of s.kinds) {
                n++;
                const m = await outbox.add("work", encode({ n, kind: k }), client.now);
                expected.set(m.id, { n: m.seq, kind: k });
                expect(m.seq).toBe(n);
              }
            } else if (s.op === "pump") client.pump(s.fates);
            else if (s.op === "reconnect") await client.reconnect();
            else client.now += s.ms;
            await client.settle();
          }
          // Then a reliable link until everything is answered (resends after ack timeouts).
          for (let i = 0; i < 100 && outbox.size > 0; i++) {
            client.pump(["deliver"]);
            await client.settle();
            client.now += 1_000;
          }
          expect(outbox.size).toBe(0);
          // Answered exactly once, with the model's answer.
          for (const [id, { n: seq, kind: k }] of expected) {
            const want = k === "fails" ? "app-error" : seq * 10;
            expect(client.settled.get(id), `message ${seq} (${k})`).toEqual([want]);
          }
          expect(client.settled.size).toBe(expected.size);
          // Handler calls in seq order; each completes once (a flaky one fails once first).
          const ran = calls.get(outbox.clientId) ?? [];
          expect(ran).toEqual([...ran].sort((a, b) => a - b));
          for (const [, { n: seq, kind: k }] of expected) {
            const times = ran.filter((x) => x === seq).length;
            expect(times, `calls of ${seq} (${k})`).toBe(k === "flaky" ? 2 : 1);
          }
        } finally {
          client.peer.socket.disconnect();
          await outbox.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
