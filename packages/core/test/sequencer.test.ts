import { describe, expect, it } from "vitest";
import type { EventRecord } from "../src/index.js";
import { isAssuredError } from "../src/index.js";
import type {
  FetchRequest,
  FetchResult,
  ParsedBatch,
  ParsedSubscribed,
} from "../src/protocol-entry.js";
import { Sequencer } from "../src/protocol-entry.js";
import { MAX_EPOCH_HINTS } from "../src/sequencer.js";

const S = "room:1";
const E = "epoch-a";

function rec(offset: number, stream = S): EventRecord {
  return {
    stream,
    offset,
    id: `id-${offset}`,
    name: "msg",
    payload: new Uint8Array([offset]),
    time: 1,
  };
}

function batch(offsets: number[], epoch = E, stream = S): ParsedBatch {
  return { stream, epoch, records: offsets.map((o) => rec(o, stream)) };
}

function subscribed(start: number, head: number, extra: Partial<ParsedSubscribed> = {}) {
  return { stream: S, epoch: E, recovered: true, start, head, ...extra };
}

/** Hands out and confirms every ready record, returning their offsets (and collecting fetches). */
function drain(seq: Sequencer, stream = S, fetches: FetchRequest[] = []): number[] {
  const out: number[] = [];
  for (let r = seq.next(stream); r; r = seq.next(stream)) {
    out.push(r.offset);
    const step = seq.delivered(stream, r.offset);
    if (step?.fetch) fetches.push(step.fetch);
  }
  return out;
}

function active(options = {}, start = 0, head = 0): Sequencer {
  const seq = new Sequencer(options);
  seq.track(S, null, "earliest");
  seq.subscribed(subscribed(start, head));
  return seq;
}

function page(_after: number, records: number[], head: number, earliest = 1): FetchResult {
  return pageIn(E, records, head, earliest);
}

/** A fetch reply read from the log of `epoch`. */
function pageIn(epoch: string, records: number[], head: number, earliest = 1): FetchResult {
  return { ok: true, epoch, head, earliest, records: records.map((o) => rec(o)) };
}

describe("Sequencer", () => {
  it("G1: delivers last + 1 in offset order, reordering records that arrive out of order", () => {
    const seq = active();
    seq.receive(batch([2]));
    expect(drain(seq)).toEqual([]);
    seq.receive(batch([3]));
    seq.receive(batch([1]));
    expect(drain(seq)).toEqual([1, 2, 3]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 3, id: "id-3" });
  });

  it("G1: hands out one record at a time; the next waits until the handler resolved", () => {
    const seq = active();
    seq.receive(batch([1, 2]));
    const first = seq.next(S);
    expect(first?.offset).toBe(1);
    expect(seq.next(S)).toBeUndefined();
    expect(seq.position(S)).toEqual({ epoch: E, offset: 0 });
    expect(seq.delivered(S, 1)?.position).toEqual({ epoch: E, offset: 1, id: "id-1" });
    expect(seq.next(S)?.offset).toBe(2);
  });

  it("G3: drops records at or below the position and repeated records", () => {
    const seq = active({}, 5, 5);
    seq.receive(batch([4, 5]));
    seq.receive(batch([6, 7]));
    seq.receive(batch([6, 7]));
    expect(drain(seq)).toEqual([6, 7]);
    seq.receive(batch([7]));
    expect(drain(seq)).toEqual([]);
  });

  it("G3: a record being handled is not handed out again when it arrives twice", () => {
    const seq = active();
    seq.receive(batch([1]));
    expect(seq.next(S)?.offset).toBe(1);
    seq.receive(batch([1, 2]));
    expect(seq.next(S)).toBeUndefined();
    seq.delivered(S, 1);
    expect(drain(seq)).toEqual([2]);
  });

  it("G7: a record that skips ahead asks for the missing range once", () => {
    const seq = active({}, 3, 3);
    const step = seq.receive(batch([7]));
    // Up to the known head (7): one fetch while behind it.
    expect(step.fetch).toEqual({ stream: S, epoch: E, after: 3, limit: 4 });
    expect(seq.receive(batch([8])).fetch).toBeUndefined();
    const repaired = seq.fetched(step.fetch!, page(3, [4, 5, 6], 8));
    expect(repaired.fetch).toBeUndefined();
    expect(drain(seq)).toEqual([4, 5, 6, 7, 8]);
  });

  it("G7: the gap fetch is capped by fetchLimit and continues after a partial page", () => {
    const seq = active({ fetchLimit: 2 }, 0, 0);
    const step = seq.receive(batch([6]));
    expect(step.fetch).toMatchObject({ after: 0, limit: 2 });
    const next = seq.fetched(step.fetch!, page(0, [1, 2], 6));
    expect(next.fetch).toMatchObject({ after: 2, limit: 2 });
    expect(drain(seq)).toEqual([1, 2]);
    seq.fetched(next.fetch!, page(2, [3, 4], 6));
    expect(drain(seq)).toEqual([3, 4]);
  });

  it("G7: a failed or timed-out fetch is asked again after a backoff, and its late reply is ignored", () => {
    let now = 0;
    const seq = active({ now: () => now, random: () => 1, fetchTimeoutMs: 1000 });
    const step = seq.receive(batch([3]));
    expect(step.fetch).toMatchObject({ after: 0, limit: 3 });
    // A refusal: no fetch before the backoff ended (0.5 s with the default policy, jitter 1).
    expect(
      seq.fetched(step.fetch!, { ok: false, error: { code: "INTERNAL", message: "x" } }),
    ).toEqual({});
    expect(seq.nextWakeAt()).toBe(500);
    expect(seq.receive(batch([4])).fetch).toBeUndefined();
    expect(seq.tick()).toEqual([]);
    now = 500;
    const [again] = seq.tick();
    expect(again?.fetch).toMatchObject({ after: 0, limit: 4 });
    // No reply: the deadline passes; the next try waits for a longer backoff (1 s).
    expect(seq.nextWakeAt()).toBe(1500);
    now = 1500;
    expect(seq.tick()).toEqual([]);
    expect(seq.nextWakeAt()).toBe(2500);
    // The late reply of the timed-out fetch changes nothing.
    expect(seq.fetched(again!.fetch!, page(0, [1, 2], 4))).toEqual({});
    expect(drain(seq)).toEqual([]);
    now = 2500;
    const [third] = seq.tick();
    expect(third?.fetch).toMatchObject({ after: 0, limit: 4 });
    // Progress resets the backoff; nothing is left to wait for.
    seq.fetched(third!.fetch!, page(0, [1, 2], 4));
    expect(drain(seq)).toEqual([1, 2, 3, 4]);
    expect(seq.nextWakeAt()).toBeUndefined();
  });

  it("G7: a fetch reply without progress backs off instead of asking again at once", () => {
    let now = 0;
    const seq = active({ now: () => now, random: () => 1 });
    const step = seq.receive(batch([3]));
    expect(seq.fetched(step.fetch!, page(0, [], 3)).fetch).toBeUndefined();
    expect(seq.nextWakeAt()).toBe(500);
    now = 500;
    expect(seq.tick()[0]?.fetch).toMatchObject({ after: 0 });
  });

  it("G5/G7: `subscribed` carries the first page; the rest is pulled one fetch at a time up to its head", () => {
    const seq = new Sequencer({ fetchLimit: 4 });
    seq.track(S, { epoch: E, offset: 2 }, "earliest");
    const step = seq.subscribed({ ...subscribed(2, 10), records: [rec(3), rec(4)] });
    expect(step.outcome).toMatchObject({ recovered: true });
    expect(step.fetch).toEqual({ stream: S, epoch: E, after: 4, limit: 4 });
    // Live records beyond the head only raise it: still the one fetch.
    expect(seq.receive(batch([11])).fetch).toBeUndefined();
    expect(drain(seq)).toEqual([3, 4]);
    const next = seq.fetched(step.fetch!, page(4, [5, 6, 7, 8], 11));
    expect(next.fetch).toEqual({ stream: S, epoch: E, after: 8, limit: 3 });
    seq.fetched(next.fetch!, page(8, [9, 10, 11], 11));
    expect(drain(seq)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });

  it("G7: a position check above the received offset fetches the trailing gap at once", () => {
    const seq = active({}, 4, 4);
    expect(seq.checkRequest()).toEqual({ streams: [S] });
    const steps = seq.heads({ [S]: { epoch: E, head: 6 } });
    expect(steps).toHaveLength(1);
    expect(steps[0]?.fetch).toEqual({ stream: S, epoch: E, after: 4, limit: 2 });
    // One fetch outstanding: the next check asks nothing more.
    expect(seq.heads({ [S]: { epoch: E, head: 6 } })).toEqual([]);
    seq.fetched(steps[0]!.fetch!, page(4, [5, 6], 6));
    expect(drain(seq)).toEqual([5, 6]);
    expect(seq.heads({ [S]: { epoch: E, head: 6 } })).toEqual([]);
  });

  it("G7: one fetch outstanding per stream, not one per check or batch", () => {
    const seq = active({}, 0, 0);
    expect(seq.heads({ [S]: { epoch: E, head: 3 } })).toHaveLength(1);
    seq.receive(batch([1]));
    expect(seq.heads({ [S]: { epoch: E, head: 3 } })).toEqual([]);
  });

  it("G11: the buffer is bounded; overflow drops the furthest records and fetches them when there is room", () => {
    const seq = active({ maxBuffered: 3 }, 0, 0);
    const fetches: FetchRequest[] = [];
    const first = seq.receive(batch([2, 3, 4]));
    // A hole at 1 behind a full buffer: the furthest make room; the fetch fits what is left.
    expect(first.fetch).toMatchObject({ after: 0, limit: 2 });
    fetches.push(first.fetch!);
    expect(seq.receive(batch([5, 6])).fetch).toBeUndefined(); // one fetch per stream at a time
    const delivered: number[] = [];
    // The server answers every fetch from its log 1…6; the handlers drain in between.
    for (let i = 0; i < fetches.length; i++) {
      const f = fetches[i]!;
      expect(f.limit).toBeLessThanOrEqual(3);
      const to = Math.min(6, f.after + f.limit);
      const step = seq.fetched(
        f,
        page(
          f.after,
          Array.from({ length: to - f.after }, (_, k) => f.after + 1 + k),
          6,
        ),
      );
      if (step.fetch) fetches.push(step.fetch);
      delivered.push(...drain(seq, S, fetches));
    }
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("G11: flow control: no fetch while the handlers have more than half a buffer to work through", () => {
    const seq = new Sequencer({ maxBuffered: 4 });
    seq.track(S, null, "earliest");
    // A page of 3 (more than half of 4), head 10: the handlers first.
    const step = seq.subscribed({ ...subscribed(0, 10), records: [rec(1), rec(2), rec(3)] });
    expect(step.fetch).toBeUndefined();
    const r1 = seq.next(S)!;
    expect(seq.delivered(S, r1.offset)?.fetch).toMatchObject({ after: 3, limit: 2 });
  });

  it("G11: a hole at the next offset behind a full buffer makes room by dropping the furthest records", () => {
    const seq = active({ maxBuffered: 4 }, 0, 0);
    const step = seq.receive(batch([3, 4, 5, 6]));
    expect(step.fetch).toMatchObject({ after: 0, limit: 2 });
    // The furthest (5, 6) were dropped to make room: they are fetched after the hole.
    const next = seq.fetched(step.fetch!, page(0, [1, 2], 6));
    expect(drain(seq)).toEqual([1, 2, 3, 4]);
    expect(next.fetch ?? seq.tick()[0]?.fetch).toBeUndefined();
  });

  it("G5: records that arrive before `subscribed` are kept and delivered after it", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 3 }, "earliest");
    seq.receive(batch([6]));
    seq.receive(batch([2, 3, 4, 5]));
    expect(seq.next(S)).toBeUndefined();
    const step = seq.subscribed(subscribed(3, 5));
    expect(step.outcome).toEqual({ stream: S, recovered: true, position: { epoch: E, offset: 3 } });
    expect(drain(seq)).toEqual([4, 5, 6]);
  });

  it("G5: early records of another epoch are dropped at `subscribed`", () => {
    const seq = new Sequencer();
    seq.track(S, null, "head");
    seq.receive(batch([1, 2], "old"));
    seq.subscribed(subscribed(0, 0));
    expect(drain(seq)).toEqual([]);
  });

  it("G6: a `subscribed` that did not recover moves the position to (epoch, start)", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: "old", offset: 40 }, "earliest");
    const step = seq.subscribed(subscribed(12, 12, { recovered: false, reason: "epoch" }));
    expect(step.outcome).toEqual({
      stream: S,
      recovered: false,
      reason: "epoch",
      position: { epoch: E, offset: 12 },
    });
    seq.receive(batch([12, 13]));
    expect(drain(seq)).toEqual([13]);
  });

  it("G6: an epoch change seen in a live batch is checked by a fetch, then an `epoch` outcome", () => {
    const seq = active({}, 5, 5);
    seq.receive(batch([6]));
    expect(drain(seq)).toEqual([6]);
    // The batch alone moves nothing: it may be a late one from a log since lost.
    const step = seq.receive(batch([3, 4], "new"));
    expect(step.outcome).toBeUndefined();
    expect(step.fetch).toEqual({ stream: S, epoch: E, after: 6, limit: 1 });
    expect(seq.position(S)).toEqual({ epoch: E, offset: 6, id: "id-6" });
    // The store is in the batch's epoch: the stream continues from just before the batch.
    const confirmed = seq.fetched(step.fetch!, pageIn("new", [], 4));
    expect(confirmed.outcome).toEqual({
      stream: S,
      recovered: false,
      reason: "epoch",
      position: { epoch: "new", offset: 2 },
    });
    expect(confirmed.fetch).toEqual({ stream: S, epoch: "new", after: 2, limit: 2 });
    seq.fetched(confirmed.fetch!, {
      ok: true,
      epoch: "new",
      head: 4,
      earliest: 1,
      records: [rec(3), rec(4)],
    });
    expect(drain(seq)).toEqual([3, 4]);
    expect(seq.position(S)).toEqual({ epoch: "new", offset: 4, id: "id-4" });
  });

  it("G3/G6: a late live batch of a lost epoch is dropped once a fetch finds the log in the stream's epoch", () => {
    // The client was told of epoch E (the store lost "old"); a batch of "old" arrives late.
    const seq = active({}, 5, 5);
    const step = seq.receive(batch([6, 7], "old"));
    expect(step.outcome).toBeUndefined();
    expect(step.fetch).toEqual({ stream: S, epoch: E, after: 5, limit: 1 });
    const settled = seq.fetched(step.fetch!, page(5, [], 5));
    expect(settled).toEqual({});
    expect(drain(seq)).toEqual([]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 5 });
    // Later events of E come as usual.
    seq.receive(batch([6]));
    expect(drain(seq)).toEqual([6]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 6, id: "id-6" });
  });

  it("G6: live batches naming many epochs are noted up to a bound; a reply in an unnoted one goes to its head", () => {
    const seq = active({}, 5, 5);
    const check = seq.receive(batch([3], "e0")).fetch!;
    // A misbehaving server names 100 epochs within one round trip: MAX_EPOCH_HINTS are noted.
    for (let i = 1; i < 100; i++) expect(seq.receive(batch([3], `e${i}`))).toEqual({});
    const unnoted = seq.fetched(check, pageIn(`e${MAX_EPOCH_HINTS + 40}`, [], 9));
    expect(unnoted.outcome).toMatchObject({ reason: "epoch", position: { offset: 9 } });

    const again = active({}, 5, 5);
    const first = again.receive(batch([3], "e0")).fetch!;
    for (let i = 1; i < 100; i++) again.receive(batch([3], `e${i}`));
    const noted = again.fetched(first, pageIn(`e${MAX_EPOCH_HINTS - 1}`, [], 9));
    expect(noted.outcome).toMatchObject({ reason: "epoch", position: { offset: 2 } });
  });

  it("G6: a batch of an epoch beyond the bound still gets a fetch read after it, though the one out settles every noted epoch", () => {
    let now = 0;
    const seq = active({ now: () => now, random: () => 1 }, 5, 5);
    const first = seq.receive(batch([3], "e0")).fetch!;
    for (let i = 1; i < MAX_EPOCH_HINTS; i++) seq.receive(batch([3], `e${i}`));
    // The first check fails; the one after the backoff checks every noted epoch.
    seq.fetched(first, { ok: false, error: { code: "INTERNAL", message: "x" } });
    now = 500;
    const [retry] = seq.tick();
    expect(retry?.fetch).toEqual({ stream: S, epoch: E, after: 5, limit: 1 });
    // The hints are full: this epoch is not noted.
    expect(seq.receive(batch([6], "late"))).toEqual({});
    // The fetch out was read before that batch, in the stream's own epoch: every noted epoch is
    // settled, and one more fetch reads the store after the unnoted batch (caught up, the
    // stream would otherwise ask nothing until its next batch or position check).
    const settled = seq.fetched(retry!.fetch!, page(5, [], 5));
    expect(settled.outcome).toBeUndefined();
    expect(settled.fetch).toEqual({ stream: S, epoch: E, after: 5, limit: 1 });
    // The store is in the unnoted epoch: the stream moves to its head.
    const moved = seq.fetched(settled.fetch!, pageIn("late", [], 6));
    expect(moved.outcome).toMatchObject({
      reason: "epoch",
      position: { epoch: "late", offset: 6 },
    });
    // Settled: in the stream's own epoch, a reply read after it asks nothing more.
    now = 10_000;
    const quiet = active({ now: () => now }, 5, 5);
    const out = quiet.receive(batch([3], "e0")).fetch!;
    for (let i = 1; i <= MAX_EPOCH_HINTS; i++) quiet.receive(batch([3], `e${i}`));
    const after = quiet.fetched(out, page(5, [], 5)).fetch!;
    expect(quiet.fetched(after, page(5, [], 5)).fetch).toBeUndefined();
  });

  it("G6: an unnoted batch that arrives while a fetch settling an earlier one is out gets a fetch of its own", () => {
    let now = 0;
    const seq = active({ now: () => now, random: () => 1 }, 5, 5);
    const first = seq.receive(batch([3], "e0")).fetch!;
    for (let i = 1; i < MAX_EPOCH_HINTS; i++) seq.receive(batch([3], `e${i}`));
    seq.receive(batch([6], "u1")); // unnoted: the hints are full
    seq.fetched(first, { ok: false, error: { code: "INTERNAL", message: "x" } });
    now = 500;
    const [retry] = seq.tick(); // read after u1
    seq.receive(batch([7], "u2")); // unnoted, after the retry was sent
    const settled = seq.fetched(retry!.fetch!, page(5, [], 5));
    expect(settled.fetch).toEqual({ stream: S, epoch: E, after: 5, limit: 1 });
    expect(seq.fetched(settled.fetch!, page(5, [], 5)).fetch).toBeUndefined();
  });

  it("G6: a move to another epoch keeps what batches that arrived after its fetch said of a third", () => {
    const seq = active({}, 5, 5);
    const check = seq.receive(batch([3], "new")).fetch!;
    // After the fetch was sent, a batch of a third epoch arrives: that fetch says nothing of it.
    expect(seq.receive(batch([2, 3], "third"))).toEqual({});
    const moved = seq.fetched(check, pageIn("new", [], 4));
    expect(moved.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 2 } });
    // By the next read the log was reset again, to the third epoch: the stream continues from
    // just before that batch (its events are delivered), not from that log's head.
    const third = seq.fetched(moved.fetch!, pageIn("third", [], 3));
    expect(third.outcome).toMatchObject({
      reason: "epoch",
      position: { epoch: "third", offset: 1 },
    });
    expect(third.fetch).toEqual({ stream: S, epoch: "third", after: 1, limit: 2 });
  });

  it("G6: a fetch outstanding when a batch of another epoch arrives does not settle it; the next one does", () => {
    const seq = new Sequencer();
    seq.track(S, null, "earliest");
    const early = seq.subscribed(subscribed(0, 3)).fetch!;
    // The log is reset; its first new event arrives while the fetch of 1..3 is outstanding.
    expect(seq.receive(batch([1], "new")).fetch).toBeUndefined();
    // That fetch was read before the reset: it says nothing of the batch's epoch.
    const check = seq.fetched(early, page(0, [1, 2, 3], 3));
    expect(check.outcome).toBeUndefined();
    expect(check.fetch).toEqual({ stream: S, epoch: E, after: 3, limit: 1 });
    const moved = seq.fetched(check.fetch!, pageIn("new", [], 1));
    expect(moved.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 0 } });
    expect(moved.fetch).toEqual({ stream: S, epoch: "new", after: 0, limit: 1 });
  });

  it("G6: several batches of a new epoch before the check's reply: the stream continues before the first", () => {
    const seq = active({}, 5, 5);
    const check = seq.receive(batch([1], "new")).fetch!;
    expect(seq.receive(batch([2], "new")).fetch).toBeUndefined();
    expect(seq.receive(batch([3], "new")).fetch).toBeUndefined();
    const reset = { ok: true as const, epoch: "new", head: 3, earliest: 1 };
    const moved = seq.fetched(check, { ...reset, records: [] });
    expect(moved.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 0 } });
    seq.fetched(moved.fetch!, { ...reset, records: [rec(1), rec(2), rec(3)] });
    expect(drain(seq)).toEqual([1, 2, 3]);
  });

  it("G6: a batch of another epoch that arrives while a check is out waits for the next fetch", () => {
    const seq = active({}, 5, 5);
    const check = seq.receive(batch([6, 7], "old")).fetch!;
    // The log is reset after the check was read; the new epoch's first event arrives.
    expect(seq.receive(batch([1], "new")).fetch).toBeUndefined();
    const again = seq.fetched(check, page(5, [], 5));
    expect(again.outcome).toBeUndefined();
    expect(again.fetch).toEqual({ stream: S, epoch: E, after: 5, limit: 1 });
    const moved = seq.fetched(again.fetch!, pageIn("new", [], 1));
    expect(moved.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 0 } });
  });

  it("G3/G6: a first epoch adopted at offset 0 drops the fetch of the other log still out", () => {
    const seq = new Sequencer();
    seq.track(S, null, "earliest");
    const old = seq.subscribed({ stream: S, epoch: "old", recovered: true, start: 0, head: 2 })
      .fetch!;
    const before = seq.checkMarks([S]);
    // The log is lost; a position check finds the new one and the stream adopts it at 0.
    const [step] = seq.heads({ [S]: { epoch: "new", head: 1 } }, before);
    expect(step?.outcome).toBeUndefined();
    expect(seq.position(S)).toEqual({ epoch: "new", offset: 0 });
    expect(step?.fetch).toEqual({ stream: S, epoch: "new", after: 0, limit: 1 });
    // A reply to the old log's fetch (read before the loss) is ignored.
    expect(seq.awaitsFetch(old)).toBe(false);
    const stale = { ok: true as const, epoch: "old", head: 2, earliest: 1 };
    expect(seq.fetched(old, { ...stale, records: [rec(1), rec(2)] })).toEqual({});
    expect(drain(seq)).toEqual([]);
    expect(seq.position(S)).toEqual({ epoch: "new", offset: 0 });
  });

  it("G6: an epoch change in a fetch reply is an `epoch` outcome at the new head", () => {
    const seq = active({}, 5, 5);
    const step = seq.receive(batch([8]));
    const reply: FetchResult = {
      ok: true,
      epoch: "new",
      head: 2,
      earliest: 1,
      records: [rec(1), rec(2)],
    };
    const after = seq.fetched(step.fetch!, reply);
    expect(after.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 2 } });
    expect(drain(seq)).toEqual([]);
  });

  it("G6: a gap that was trimmed away is a `trimmed` outcome at the head", () => {
    const seq = active({}, 5, 5);
    const step = seq.receive(batch([9]));
    const after = seq.fetched(step.fetch!, page(5, [8, 9], 9, 8));
    expect(after.outcome).toEqual({
      stream: S,
      recovered: false,
      reason: "trimmed",
      position: { epoch: E, offset: 9 },
    });
    seq.receive(batch([10]));
    expect(drain(seq)).toEqual([10]);
  });

  it("G6: the periodic check reports an epoch change", () => {
    const seq = active({}, 5, 5);
    const steps = seq.heads({ [S]: { epoch: "new", head: 1 } });
    expect(steps[0]?.outcome).toMatchObject({
      reason: "epoch",
      position: { epoch: "new", offset: 1 },
    });
  });

  it("a position at offset 0 adopts the stream's first epoch without an outcome", () => {
    const seq = new Sequencer();
    seq.track(S, null, "head");
    seq.subscribed({ stream: S, epoch: "", recovered: true, start: 0, head: 0 });
    const step = seq.receive(batch([1, 2, 3], E));
    expect(step.outcome).toBeUndefined();
    // From offset 0 the reply carries the records whatever the epoch: it asks for the batch's.
    expect(step.fetch).toEqual({ stream: S, epoch: "", after: 0, limit: 3 });
    const adopted = seq.fetched(step.fetch!, page(0, [1, 2, 3], 3));
    expect(adopted).toEqual({});
    expect(drain(seq)).toEqual([1, 2, 3]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 3, id: "id-3" });
  });

  it("G3: a handler failure pauses the stream; the record comes again after a new subscription", () => {
    const seq = active();
    seq.receive(batch([1, 2]));
    const r = seq.next(S)!;
    seq.failed(S, r.offset);
    expect(seq.isPaused(S)).toBe(true);
    expect(seq.next(S)).toBeUndefined();
    seq.receive(batch([3]));
    expect(seq.subscriptions()).toEqual([
      { stream: S, position: { epoch: E, offset: 0 }, from: "earliest" },
    ]);
    seq.restart(S, seq.position(S), "earliest");
    seq.subscribed(subscribed(0, 3));
    seq.receive(batch([1, 2, 3]));
    expect(drain(seq)).toEqual([1, 2, 3]);
  });

  it("G5: a handler that finishes across a reconnect advances the position; the replay of it is dropped", () => {
    const seq = active();
    seq.receive(batch([1, 2]));
    const r = seq.next(S)!;
    seq.disconnected();
    expect(seq.subscriptions()[0]?.position).toEqual({ epoch: E, offset: 0 });
    seq.subscribed(subscribed(0, 2));
    seq.receive(batch([1, 2]));
    expect(seq.delivered(S, r.offset)?.position).toEqual({ epoch: E, offset: 1, id: "id-1" });
    expect(drain(seq)).toEqual([2]);
  });

  it("a record handed out before a reset is stale: its delivery does not move the position", () => {
    const seq = active({}, 5, 5);
    seq.receive(batch([6]));
    const r = seq.next(S)!;
    const check = seq.receive(batch([1], "new")).fetch!;
    const reset = { ok: true as const, epoch: "new", head: 1, earliest: 1 };
    const moved = seq.fetched(check, { ...reset, records: [] });
    expect(moved.outcome).toMatchObject({ reason: "epoch", position: { epoch: "new", offset: 0 } });
    expect(seq.delivered(S, r.offset)).toBeUndefined();
    seq.fetched(moved.fetch!, { ...reset, records: [rec(1)] });
    expect(drain(seq)).toEqual([1]);
    expect(seq.position(S)).toEqual({ epoch: "new", offset: 1, id: "id-1" });
  });

  it("a recovered `subscribed` never moves the position backwards", () => {
    const seq = active({}, 5, 5);
    seq.disconnected();
    seq.subscribed(subscribed(3, 5));
    expect(seq.position(S)).toEqual({ epoch: E, offset: 5 });
  });

  it("ignores input for streams it does not track", () => {
    const seq = new Sequencer();
    expect(seq.receive(batch([1]))).toEqual({});
    expect(seq.subscribed(subscribed(0, 0)).outcome).toBeUndefined();
    expect(seq.next(S)).toBeUndefined();
  });

  it("G11: validates options and bounds the number of streams", () => {
    expect(() => new Sequencer({ maxBuffered: 0 })).toThrow(/maxBuffered/);
    expect(() => new Sequencer({ fetchLimit: 20_000 })).toThrow(/fetchLimit/);
    const seq = new Sequencer({ maxStreams: 1 });
    expect(seq.track("a", null, "head")).toBe(true);
    expect(seq.track("a", null, "head")).toBe(false);
    try {
      seq.track("b", null, "head");
      expect.unreachable();
    } catch (error) {
      expect(isAssuredError(error, "LIMIT_EXCEEDED")).toBe(true);
    }
    expect(() => seq.track("", null, "head")).toThrow(/stream name/);
  });
});
