import { describe, expect, it } from "vitest";
import type { EventRecord } from "../src/index.js";
import { Sequencer, type SequencerStep } from "../src/protocol-entry.js";

/*
 * Found by the sequencer's network property (now sequencer-model.property.test.ts): a fetch of a
 * hole below records already received failed or timed out, and on a quiet stream nothing asked
 * for the hole again (G7). In protocol v2 the repair loop itself retries (backoff, forever while
 * subscribed): no position check is needed.
 */

const S = "room:1";

function rec(offset: number): EventRecord {
  return { stream: S, offset, id: `id${offset}`, name: "m", payload: new Uint8Array(), time: 0 };
}

function range(from: number, to: number): EventRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
}

describe("Sequencer: a hole whose fetch failed, on a quiet stream", () => {
  it("G7: is fetched again after the backoff, with no position check", () => {
    let now = 0;
    const seq = new Sequencer({ now: () => now, random: () => 0.5, fetchTimeoutMs: 1000 });
    seq.track(S, null, "earliest");
    seq.subscribed({ stream: S, epoch: "e", recovered: true, start: 0, head: 0 });
    // Live records 1–3, then 8–10 (4–7 were lost on the way): the hole is fetched at once.
    seq.receive({ stream: S, epoch: "e", records: range(1, 3) });
    const { fetch } = seq.receive({ stream: S, epoch: "e", records: range(8, 10) });
    expect(fetch).toMatchObject({ epoch: "e", after: 3 });
    // The fetch times out; nothing else arrives.
    now = 1000;
    expect(seq.tick()).toEqual([]);
    for (let r = seq.next(S); r; r = seq.next(S)) seq.delivered(S, r.offset);
    expect(seq.position(S)).toMatchObject({ offset: 3 });
    // The backoff ends: asked again (and again, for as long as it fails).
    now = seq.nextWakeAt()!;
    const [step] = seq.tick();
    expect(step?.fetch).toMatchObject({ epoch: "e", after: 3 });
    seq.fetched(step!.fetch!, {
      ok: true,
      epoch: "e",
      head: 10,
      earliest: 1,
      records: range(4, 7),
    });
    for (let r = seq.next(S); r; r = seq.next(S)) seq.delivered(S, r.offset);
    expect(seq.position(S)).toMatchObject({ epoch: "e", offset: 10 });
    expect(seq.nextWakeAt()).toBeUndefined();
  });

  it("G7: is retried forever while subscribed, with a backoff that grows to its cap", () => {
    let now = 0;
    const retry = { initialMs: 100, maxMs: 1000, factor: 2 };
    const seq = new Sequencer({ now: () => now, random: () => 1, retry });
    seq.track(S, null, "earliest");
    // The subscribe reply names head 5 and carries no page: the fetch goes out at once.
    let fetch = seq.subscribed({ stream: S, epoch: "e", recovered: true, start: 0, head: 5 }).fetch;
    const waits: number[] = [];
    // Every answer is a refusal: the waits double up to the cap, and it never gives up.
    for (let i = 0; i < 8; i++) {
      if (fetch === undefined) {
        now = seq.nextWakeAt()!;
        fetch = seq.tick()[0]?.fetch;
      }
      expect(fetch).toMatchObject({ after: 0 });
      const before = now;
      seq.fetched(fetch!, { ok: false, error: { code: "STORE_UNAVAILABLE", message: "down" } });
      waits.push(seq.nextWakeAt()! - before);
      fetch = undefined;
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });
});

describe("Sequencer: catch-up while live events keep coming", () => {
  it("G5/G7: the rest after the first page is pulled while live records arrive above it", () => {
    const seq = new Sequencer({ fetchLimit: 10 });
    seq.track(S, { epoch: "e", offset: 0 }, "earliest");
    const first = seq.subscribed({
      stream: S,
      epoch: "e",
      recovered: true,
      start: 0,
      head: 50,
      records: range(1, 5),
    });
    let head = 50;
    const fetches: Array<{ after: number }> = [];
    // The server answers every fetch at once, from its log 1…head.
    const answer = (step: SequencerStep | undefined): void => {
      const fetch = step?.fetch;
      if (!fetch) return;
      fetches.push(fetch);
      const to = Math.min(head, fetch.after + fetch.limit);
      const reply = { ok: true as const, epoch: "e", head, earliest: 1 };
      answer(seq.fetched(fetch, { ...reply, records: range(fetch.after + 1, to) }));
    };
    for (let live = 0; live < 3; live++) {
      head++;
      answer(seq.receive({ stream: S, epoch: "e", records: [rec(head)] }));
    }
    answer(first);
    for (let r = seq.next(S); r; r = seq.next(S)) answer({ ...seq.delivered(S, r.offset) });
    expect(fetches[0]).toMatchObject({ after: 5 });
    expect(seq.position(S)).toMatchObject({ epoch: "e", offset: head });
  });
});
