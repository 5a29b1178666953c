import { describe, expect, it } from "vitest";
import { type EventRecord, Sequencer, type SequencerStep } from "../src/index.js";

/*
 * Found by the sequencer's network property (sequencer-network.property.test.ts): a gap fetch
 * of a hole below records already received timed out; its late reply was ignored (as it must
 * be), and on a quiet stream nothing asked for the hole again: the stream was stuck (G7).
 */

const S = "room:1";

function rec(offset: number): EventRecord {
  return { stream: S, offset, id: `id${offset}`, name: "m", payload: new Uint8Array(), time: 0 };
}

function range(from: number, to: number): EventRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
}

describe("Sequencer: a hole whose fetch failed, on a quiet stream", () => {
  it("G7: is fetched again once two position checks saw nothing arrive", () => {
    const seq = new Sequencer();
    seq.track(S, null, "earliest");
    seq.subscribed({ stream: S, epoch: "e", recovered: true, start: 0, head: 0 });
    // Live records 1–3, then 8–10 (4–7 were lost on the way): the hole is fetched at once.
    seq.receive({ stream: S, epoch: "e", records: range(1, 3) });
    const { fetch } = seq.receive({ stream: S, epoch: "e", records: range(8, 10) });
    expect(fetch).toMatchObject({ epoch: "e", after: 3 });
    // The fetch times out; nothing else arrives.
    seq.fetchFailed(fetch!);
    for (let r = seq.next(S); r; r = seq.next(S)) seq.delivered(S, r.offset);
    expect(seq.position(S)).toMatchObject({ offset: 3 });
    const heads = { [S]: { epoch: "e", head: 10 } };
    // The first check only notes what is known; the second, with nothing new, asks again.
    expect(seq.heads(heads, seq.checkMarks([S]))).toEqual([]);
    const [step] = seq.heads(heads, seq.checkMarks([S]));
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
  });
});

describe("Sequencer: a replay the server stopped (its ack timed out)", () => {
  it("G7: the hole below the announced replay is fetched while live events keep coming", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: "e", offset: 0 }, "earliest");
    // The replay announces 1–50 but stops after 1–5; live events 51… keep coming.
    seq.subscribed({ stream: S, epoch: "e", recovered: true, start: 0, head: 50 });
    seq.receive({ stream: S, epoch: "e", records: range(1, 5) }, () => undefined);
    for (let r = seq.next(S); r; r = seq.next(S)) seq.delivered(S, r.offset);
    const fetches: Array<{ after: number }> = [];
    let head = 50;
    // The server answers every fetch at once, from its log 1…head.
    const answer = (step: SequencerStep | undefined): void => {
      const fetch = step?.fetch;
      if (!fetch) return;
      fetches.push(fetch);
      const to = Math.min(head, fetch.after + fetch.limit);
      const reply = { ok: true as const, epoch: "e", head, earliest: 1 };
      answer(seq.fetched(fetch, { ...reply, records: range(fetch.after + 1, to) }));
    };
    for (let check = 0; check < 3; check++) {
      head++;
      answer(seq.receive({ stream: S, epoch: "e", records: [rec(head)] }));
      for (const step of seq.heads({ [S]: { epoch: "e", head } }, seq.checkMarks([S]))) {
        answer(step);
      }
    }
    // Before: only fetches of ranges above the announced replay (after 50), never of 6–50.
    expect(fetches.map((f) => f.after)).toContain(5);
    for (let r = seq.next(S); r; r = seq.next(S)) seq.delivered(S, r.offset);
    expect(seq.position(S)).toMatchObject({ epoch: "e", offset: head });
  });
});
