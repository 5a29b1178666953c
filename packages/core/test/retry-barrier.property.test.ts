import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AssuredErrorData } from "../src/errors.js";
import { RetryBarrier } from "../src/retry-barrier.js";

/** What the server does with a message when its step comes. */
type Step =
  | { kind: "send"; count: number } // the client sends up to `count` of its unsent messages, lowest first
  | { kind: "new"; count: number } // the application adds messages
  | { kind: "arrive"; refuse: boolean } // the next frame on the wire arrives (refused: rate limit)
  | { kind: "turn"; outcome: "ok" | "retryable" | "final" }; // the queue's next turn runs

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("send" as const), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("new" as const), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("arrive" as const), refuse: fc.boolean() }),
  fc.record({
    kind: fc.constant("turn" as const),
    outcome: fc.constantFrom("ok" as const, "ok" as const, "retryable" as const, "final" as const),
  }),
);

const unavailable: AssuredErrorData = { code: "STORE_UNAVAILABLE", message: "store down" };
const rateLimited: AssuredErrorData = { code: "RATE_LIMITED", message: "rate limited" };
const handlerError: AssuredErrorData = { code: "HANDLER_ERROR", message: "handler threw" };

/**
 * A client whose window of messages is refused at random (at arrival: rate limits; at their
 * turn: the store down) and which resends what was refused, lowest seq first, as the outbox
 * does; a server that asks the barrier at arrival and at each turn. G10: the messages that
 * finish (handled, or failed for good) finish in seq order, each once, and once the failures
 * stop every message finishes.
 */
function run(steps: readonly Step[], capacity: number): void {
  const barrier = new RetryBarrier(capacity);
  let nextSeq = 1;
  const unsent = new Set<number>(); // pending, to be sent (again)
  const wire: number[] = []; // sent, not arrived (a socket keeps order)
  const queue: number[] = []; // arrived, waiting for their turn
  const finished: number[] = [];
  const refused = (seq: number) => unsent.add(seq);

  const send = (count: number) => {
    const lowest = [...unsent].sort((a, b) => a - b).slice(0, count);
    for (const seq of lowest) {
      unsent.delete(seq);
      wire.push(seq);
    }
  };
  const arrive = (refuse: boolean) => {
    const seq = wire.shift();
    if (seq === undefined) return;
    if (barrier.atArrival(seq) !== undefined) return refused(seq);
    if (refuse) {
      barrier.note(seq, rateLimited);
      return refused(seq);
    }
    queue.push(seq);
  };
  const turn = (outcome: "ok" | "retryable" | "final") => {
    const seq = queue.shift();
    if (seq === undefined) return;
    if (barrier.atTurn(seq) !== undefined) return refused(seq);
    if (outcome === "retryable") {
      barrier.note(seq, unavailable);
      return refused(seq);
    }
    barrier.note(seq, outcome === "final" ? handlerError : undefined);
    finished.push(seq);
  };

  for (const s of steps) {
    if (s.kind === "new") for (let i = 0; i < s.count; i++) unsent.add(nextSeq++);
    else if (s.kind === "send") send(s.count);
    else if (s.kind === "arrive") arrive(s.refuse);
    else turn(s.outcome);
  }
  // The failures stop: everything is sent, arrives and runs until nothing is left.
  for (let rounds = 0; unsent.size + wire.length + queue.length > 0; rounds++) {
    if (rounds > 10_000) throw new Error("the window never drained");
    send(unsent.size);
    while (wire.length > 0) arrive(false);
    while (queue.length > 0) turn("ok");
  }

  for (let i = 1; i < finished.length; i++) {
    expect(finished[i]!, `finished in order: ${finished.join(",")}`).toBeGreaterThan(
      finished[i - 1]!,
    );
  }
  expect(finished).toEqual(Array.from({ length: nextSeq - 1 }, (_, i) => i + 1));
}

describe("RetryBarrier (G10, property)", () => {
  it("messages refused with retryable errors at arrival or at their turn still finish in seq order, each once", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 80, size: "large" }), (steps) =>
        run(steps, 1_000),
      ),
      { numRuns: 500 },
    );
  });

  it("a message whose turn failed makes the later ones already queued wait, then all finish in order", () => {
    run(
      [
        { kind: "new", count: 2 },
        { kind: "send", count: 2 },
        { kind: "arrive", refuse: false },
        { kind: "arrive", refuse: false },
        { kind: "turn", outcome: "retryable" }, // 1: the store is down
        { kind: "turn", outcome: "ok" }, // 2 must wait for 1
      ],
      16,
    );
  });

  it("a refusal at arrival makes the later messages already on the wire wait, then all finish in order", () => {
    run(
      [
        { kind: "new", count: 3 },
        { kind: "send", count: 3 },
        { kind: "arrive", refuse: false }, // 1 queued
        { kind: "arrive", refuse: true }, // 2 rate limited
        { kind: "arrive", refuse: false }, // 3 must wait for 2
        { kind: "turn", outcome: "ok" }, // 1 finishes
      ],
      16,
    );
  });
});
