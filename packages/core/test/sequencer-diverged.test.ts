import { describe, expect, it } from "vitest";
import { type EventRecord, isAssuredError } from "../src/index.js";
import {
  type ParsedSubscribed,
  packRecords,
  parseSubscribedFrame,
  Sequencer,
} from "../src/protocol-entry.js";

/* The client half of "positions detect divergence" (DESIGN §8): ids travel with positions. */

const S = "room:1";
const E = "epoch-a";

function rec(offset: number, id = `id-${offset}`): EventRecord {
  return { stream: S, offset, id, name: "msg", payload: new Uint8Array([1]), time: 1 };
}

function frame(
  start: number,
  head: number,
  extra: Partial<ParsedSubscribed> = {},
): ParsedSubscribed {
  return { stream: S, epoch: E, recovered: true, start, head, ...extra };
}

function deliverAll(seq: Sequencer): number[] {
  const out: number[] = [];
  for (let r = seq.next(S); r; r = seq.next(S)) {
    out.push(r.offset);
    seq.delivered(S, r.offset);
  }
  return out;
}

describe("Sequencer positions carry the id of their event", () => {
  it("an epoch change seen in a live batch is a correction of the position the stream had", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 4, id: "evt-4" }, "head");
    seq.subscribed(frame(4, 4));
    const hint = seq.receive({ stream: S, epoch: "epoch-b", records: [{ ...rec(3), id: "x" }] });
    // The batch is checked by a fetch; its reply confirms the epoch.
    const step = seq.fetched(hint.fetch!, {
      ok: true,
      epoch: "epoch-b",
      head: 3,
      earliest: 1,
      records: [],
    });
    expect(step.outcome).toMatchObject({ recovered: false, reason: "epoch" });
    expect(step.correction).toEqual({ judged: { epoch: E, offset: 4, id: "evt-4" } });
  });

  it("a delivered event's id goes with its offset, and into the next subscription request", () => {
    const seq = new Sequencer();
    seq.track(S, null, "earliest");
    seq.subscribed(frame(0, 2));
    seq.receive({ stream: S, epoch: E, records: [rec(1), rec(2, "evt-b")] });
    expect(deliverAll(seq)).toEqual([1, 2]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 2, id: "evt-b" });
    seq.disconnected();
    expect(seq.subscriptions()).toEqual([
      { stream: S, position: { epoch: E, offset: 2, id: "evt-b" }, from: "earliest" },
    ]);
  });

  it("a recovered resume keeps the id; an outcome that moves the position drops it", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 4, id: "evt-4" }, "head");
    seq.subscribed(frame(4, 6));
    expect(seq.position(S)).toEqual({ epoch: E, offset: 4, id: "evt-4" });
    seq.disconnected();
    const step = seq.subscribed(frame(9, 9, { recovered: false, reason: "limit" }));
    expect(step.outcome?.position).toEqual({ epoch: E, offset: 9 });
    expect(step.correction).toEqual({ judged: { epoch: E, offset: 4, id: "evt-4" } });
  });

  it("diverged moves the position back within the epoch and delivers the new history", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 10, id: "old-10" }, "head");
    // The rewritten log's new events arrive (live) before the outcome.
    seq.receive({ stream: S, epoch: E, records: [rec(8, "new-8")] });
    const step = seq.subscribed(frame(7, 7, { recovered: false, reason: "diverged" }));
    expect(step.rewound).toBe(true);
    // The position the server judged, for the client's storage to replace only if still there.
    expect(step.correction).toEqual({ judged: { epoch: E, offset: 10, id: "old-10" } });
    expect(step.outcome).toEqual({
      stream: S,
      recovered: false,
      reason: "diverged",
      position: { epoch: E, offset: 7 },
    });
    expect(seq.position(S)).toEqual({ epoch: E, offset: 7 });
    expect(deliverAll(seq)).toEqual([8]);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 8, id: "new-8" });
    // Nothing is fetched for the old history's offsets (9, 10): they are not in this log.
    const next = seq.receive({ stream: S, epoch: E, records: [rec(9, "new-9")] });
    expect(next.fetch).toBeUndefined();
    expect(deliverAll(seq)).toEqual([9]);
  });

  it("a recovered outcome below the position (a handler finished meanwhile) does not move it back", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 10, id: "old-10" }, "head");
    const step = seq.subscribed(frame(7, 12));
    expect(step.rewound).toBeUndefined();
    expect(step.correction).toBeUndefined();
    expect(seq.position(S)).toEqual({ epoch: E, offset: 10, id: "old-10" });
  });

  it("a same-epoch epoch outcome below the position (older server, or no id) is a rewind too", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 10 }, "head");
    const step = seq.subscribed(frame(7, 7, { recovered: false, reason: "epoch" }));
    expect(step.rewound).toBe(true);
    expect(seq.position(S)).toEqual({ epoch: E, offset: 7 });
  });

  it("an outcome's position takes the server's startId (the event at start)", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: E, offset: 10, id: "old-10" }, "head");
    seq.subscribed(frame(7, 7, { recovered: false, reason: "diverged", startId: "new-7" }));
    expect(seq.position(S)).toEqual({ epoch: E, offset: 7, id: "new-7" });
    seq.disconnected();
    seq.subscribed(frame(7, 9, { startId: "new-7" }));
    expect(seq.position(S)).toEqual({ epoch: E, offset: 7, id: "new-7" });
    const fresh = new Sequencer();
    fresh.track(S, null, "head");
    fresh.subscribed(frame(4, 4, { startId: "evt-4" }));
    expect(fresh.subscriptions()[0]!.position).toEqual({ epoch: E, offset: 4, id: "evt-4" });
  });

  it("live: a record at the position's offset with another id asks to subscribe again from the position", () => {
    const seq = new Sequencer();
    seq.track(S, null, "head");
    seq.subscribed(frame(0, 0));
    seq.receive({ stream: S, epoch: E, records: [rec(1), rec(2)] });
    expect(deliverAll(seq)).toEqual([1, 2]);
    // The same record again is a duplicate, nothing more.
    expect(seq.receive({ stream: S, epoch: E, records: [rec(2)] }).resubscribe).toBeUndefined();
    const step = seq.receive({ stream: S, epoch: E, records: [rec(2, "other"), rec(3, "x")] });
    expect(step.resubscribe).toEqual({
      stream: S,
      position: { epoch: E, offset: 2, id: "id-2" },
      from: "head",
    });
    expect(seq.awaitsSubscribed(S)).toBe(true);
    expect(seq.next(S)).toBeUndefined();
  });

  it("live: a fetch reply whose head is below what was received, or with another id at the position, diverges", () => {
    const seq = new Sequencer();
    seq.track(S, null, "head");
    seq.subscribed(frame(0, 0));
    const { fetch } = seq.receive({ stream: S, epoch: E, records: [rec(1), rec(2), rec(4)] });
    expect(deliverAll(seq)).toEqual([1, 2]);
    const request = fetch!;
    expect(request.after).toBe(2);
    const step = seq.fetched(request, { ok: true, epoch: E, head: 1, earliest: 1, records: [] });
    expect(step.resubscribe?.position).toEqual({ epoch: E, offset: 2, id: "id-2" });
    // Another id at the position in a fetch reply.
    const other = new Sequencer();
    other.track(S, null, "head");
    other.subscribed(frame(0, 0));
    const { fetch: again } = other.receive({ stream: S, epoch: E, records: [rec(1), rec(3)] });
    expect(deliverAll(other)).toEqual([1]);
    const reply = { ok: true as const, epoch: E, head: 3, earliest: 1, records: [rec(1, "z")] };
    expect(other.fetched(again!, reply).resubscribe?.position).toEqual({
      epoch: E,
      offset: 1,
      id: "id-1",
    });
  });

  it("live: a heads reply below an offset handed out when it was asked diverges; a reply older than an outcome does not", () => {
    const seq = new Sequencer();
    seq.track(S, null, "head");
    seq.subscribed(frame(0, 0));
    seq.receive({ stream: S, epoch: E, records: [rec(1), rec(2), rec(3)] });
    expect(deliverAll(seq)).toEqual([1, 2, 3]);
    const marks = seq.checkMarks([S]);
    // A reply read before the records arrived (head 1) to a request sent earlier: no marks.
    expect(seq.heads({ [S]: { epoch: E, head: 1 } })).toEqual([]);
    const [step] = seq.heads({ [S]: { epoch: E, head: 2 } }, marks);
    expect(step?.resubscribe?.position).toEqual({ epoch: E, offset: 3, id: "id-3" });
    // After the outcome, marks taken before it no longer count.
    seq.subscribed(frame(2, 2, { recovered: false, reason: "diverged", startId: "new-2" }));
    expect(seq.heads({ [S]: { epoch: E, head: 2 } }, marks)).toEqual([]);
  });

  it("parses diverged and startId in assured:subscribed and refuses a bad position id in track", () => {
    const raw = {
      stream: S,
      epoch: E,
      recovered: false,
      reason: "diverged",
      start: 3,
      head: 3,
      records: packRecords([]),
    };
    expect(parseSubscribedFrame(raw).reason).toBe("diverged");
    expect(parseSubscribedFrame({ ...raw, startId: "e-3" }).startId).toBe("e-3");
    for (const startId of ["", 5, "x".repeat(600)]) {
      expect(() => parseSubscribedFrame({ ...raw, startId })).toThrow(/subscribed frame/);
    }
    expect(() => parseSubscribedFrame({ ...raw, start: 0, startId: "a" })).toThrow(/subscribed/);
    const seq = new Sequencer();
    for (const position of [
      { epoch: E, offset: 3, id: "" },
      { epoch: E, offset: 3, id: 7 },
      { epoch: E, offset: 0, id: "a" },
    ]) {
      let error: unknown;
      try {
        seq.track(S, position as never, "head");
      } catch (e) {
        error = e;
      }
      expect(isAssuredError(error) && error.code).toBe("INVALID_ARGUMENT");
    }
  });
});
