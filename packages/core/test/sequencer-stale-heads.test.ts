import { describe, expect, it } from "vitest";
import type { EventRecord } from "../src/index.js";
import { type ParsedSubscribed, Sequencer } from "../src/protocol-entry.js";

/*
 * Found by the chaos harness's long run: after a store restarted empty, a position check read
 * the heads before the stream's first new append (epoch "", head 0) and its reply arrived after
 * the subscription's outcome in the new epoch. The client jumped back to ("", 0) and its
 * handlers saw the new epoch's first events twice (G3).
 */

const S = "room:1";

function rec(offset: number): EventRecord {
  return {
    stream: S,
    offset,
    id: `new-${offset}`,
    name: "msg",
    payload: new Uint8Array([1]),
    time: 1,
  };
}

function deliverAll(seq: Sequencer): number[] {
  const out: number[] = [];
  for (let r = seq.next(S); r; r = seq.next(S)) {
    out.push(r.offset);
    seq.delivered(S, r.offset);
  }
  return out;
}

describe("Sequencer: a heads reply older than the stream's latest outcome", () => {
  it("G3/G6: is ignored, so a stale empty head does not send the client back to offset 0", () => {
    const seq = new Sequencer();
    seq.track(S, { epoch: "old", offset: 255, id: "old-255" }, "head");
    const lost: ParsedSubscribed = {
      stream: S,
      epoch: "old",
      recovered: true,
      start: 255,
      head: 255,
    };
    seq.subscribed(lost);
    // The check is sent while the client is still in the old epoch…
    const marks = seq.checkMarks([S]);
    // …then the store restarts empty; the resubscription lands in the new epoch.
    const step = seq.subscribed({
      stream: S,
      epoch: "new",
      recovered: false,
      reason: "epoch",
      start: 0,
      head: 15,
    });
    expect(step.outcome).toMatchObject({ recovered: false, reason: "epoch" });
    seq.receive({
      stream: S,
      epoch: "new",
      records: Array.from({ length: 15 }, (_, i) => rec(i + 1)),
    });
    expect(deliverAll(seq)).toHaveLength(15);
    // The check's reply was read before the first new append: epoch "", head 0.
    expect(seq.heads({ [S]: { epoch: "", head: 0 } }, marks)).toEqual([]);
    expect(seq.position(S)).toMatchObject({ epoch: "new", offset: 15 });
    // A check sent now is judged as before: another epoch is an outcome.
    const fresh = seq.checkMarks([S]);
    const [later] = seq.heads({ [S]: { epoch: "newer", head: 3 } }, fresh);
    expect(later?.outcome).toMatchObject({ recovered: false, reason: "epoch" });
  });
});
