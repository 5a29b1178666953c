/**
 * The chaos checker (`src/chaos/checker.ts`): one hand-built record per violation kind, clean
 * records (an epoch change and a divergence told by outcomes), a fast-check property (a
 * simulated clean run passes; one mutation of it is caught as its kind) and a size test.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ChaosHandledRun, ChaosLogLine } from "../src/chaos/chaos-log.js";
import {
  type ChaosRecord,
  type ChaosStoreLog,
  type CheckOptions,
  check,
  timeline,
  type ViolationKind,
} from "../src/chaos/checker.js";

// ---------------------------------------------------------------------------------------------
// Builders for hand-made records

const AT = 1_700_000_000_000;

const pub = (
  t: number,
  stream: string,
  offset: number,
  epoch = "e1",
  k = offset,
): ChaosLogLine => ({
  kind: "published",
  t,
  stream,
  k,
  epoch,
  offset,
});

const del = (
  t: number,
  client: string,
  stream: string,
  offset: number,
  epoch = "e1",
  k = offset,
): ChaosLogLine => ({ kind: "delivery", t, client, stream, epoch, offset, data: { stream, k } });

const out = (
  t: number,
  client: string,
  stream: string,
  epoch: string,
  offset: number,
  reason?: string,
): ChaosLogLine =>
  reason === undefined
    ? { kind: "outcome", t, client, stream, recovered: true, epoch, offset }
    : { kind: "outcome", t, client, stream, recovered: false, reason, epoch, offset };

/** A store log holding `from..head` with `k` = offset unless `ks` says otherwise. */
function storeLog(
  stream: string,
  epoch: string,
  head: number,
  from = 1,
  ks: Record<number, number> = {},
): ChaosStoreLog {
  const events = new Map<number, unknown>();
  for (let o = from; o <= head; o++) events.set(o, { stream, k: ks[o] ?? o });
  return { epoch, head, earliest: from, events };
}

function record(
  lines: ChaosLogLine[],
  logs: ChaosStoreLog[] | Record<string, ChaosStoreLog> = {},
  handled: ChaosHandledRun[] = [],
  lossPossible = false,
): ChaosRecord {
  const map = new Map<string, ChaosStoreLog>();
  if (Array.isArray(logs)) {
    for (const log of logs) {
      const first = log.events.values().next().value as { stream: string } | undefined;
      map.set(first?.stream ?? "s1", log);
    }
  } else for (const [stream, log] of Object.entries(logs)) map.set(stream, log);
  return { lines, handled, logs: map, lossPossible };
}

/** Stream s1 of epoch e1 with events 1..5, published at t 1..5. */
const published5 = (): ChaosLogLine[] => [1, 2, 3, 4, 5].map((o) => pub(o, "s1", o));
const s1Head5 = (): Record<string, ChaosStoreLog> => ({ s1: storeLog("s1", "e1", 5) });

/** c1 subscribed at e1#0 and got `offsets` at t 10, 11… */
function c1Got(offsets: number[], epoch = "e1"): ChaosLogLine[] {
  return [out(9, "c1", "s1", "e1", 0), ...offsets.map((o, i) => del(10 + i, "c1", "s1", o, epoch))];
}

/** One message of c1 (n=1, id m1) emitted, run on n1, and settled with its answer. */
function message(
  n = 1,
  node = "n1",
  t = 20,
): {
  lines: ChaosLogLine[];
  runs: ChaosHandledRun[];
} {
  const id = `m${n}`;
  return {
    lines: [
      { kind: "emit", t, client: "c1", id, n },
      {
        kind: "settled",
        t: t + 1,
        client: "c1",
        id,
        n,
        ok: true,
        value: { node, client: "c1", n },
      },
    ],
    runs: [{ id, node, client: "c1", n, at: AT + t }],
  };
}

function kinds(r: ChaosRecord, options?: CheckOptions): ViolationKind[] {
  return check(r, options).violations.map((v) => v.kind);
}

// ---------------------------------------------------------------------------------------------

describe("chaos checker: clean records", () => {
  it("a clean run with a message passes, with its figures", () => {
    const m = message();
    const r = record(
      [
        ...published5(),
        ...c1Got([1, 2, 3, 4, 5]),
        ...m.lines,
        { kind: "connection", t: 8, client: "c1", connected: true },
        { kind: "fault", t: 12, fault: "cut", target: "c1" },
        { kind: "node-stats", t: 1, node: "n1", rssBytes: 100, eventLoopLagMs: 3 },
        { kind: "node-stats", t: 2, node: "n1", rssBytes: 150, eventLoopLagMs: 1 },
      ],
      s1Head5(),
      m.runs,
    );
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.ok).toBe(true);
    expect(verdict.figures).toMatchObject({
      clients: 1,
      streams: 1,
      eventsPublished: 5,
      deliveries: 5,
      messages: 1,
      handledRuns: 1,
      settled: 1,
      settledOk: 1,
      outcomes: { recovered: 1 },
      faults: { cut: 1 },
      connects: 1,
      nodes: { n1: { samples: 2, maxRssBytes: 150, maxEventLoopLagMs: 3, lastRssBytes: 150 } },
    });
  });

  it("an epoch change with the matching recovered: false outcome passes (G6)", () => {
    const r = record(
      [
        pub(1, "s1", 1),
        pub(2, "s1", 2),
        pub(3, "s1", 3),
        out(4, "c1", "s1", "e1", 0),
        del(5, "c1", "s1", 1),
        del(6, "c1", "s1", 2),
        { kind: "fault", t: 7, fault: "store-restart", detail: { persistence: false } },
        pub(8, "s1", 1, "e2", 4),
        pub(9, "s1", 2, "e2", 5),
        out(10, "c1", "s1", "e2", 0, "epoch"),
        del(11, "c1", "s1", 1, "e2", 4),
        del(12, "c1", "s1", 2, "e2", 5),
      ],
      { s1: storeLog("s1", "e2", 2, 1, { 1: 4, 2: 5 }) },
      [],
      true,
    );
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries).toEqual([
      {
        client: "c1",
        stream: "s1",
        reason: "epoch",
        epoch: "e2",
        offset: 0,
        t: 10,
        storeLost: true,
      },
    ]);
    expect(verdict.figures.outcomes).toEqual({ recovered: 1, epoch: 1 });
  });

  it("a divergence (restore from an older snapshot) told by a diverged outcome passes", () => {
    // e1#4 and #5 were k 4, 5; after the restore to head 3 they are k 6, 7, then #6 is k 8.
    const lines: ChaosLogLine[] = [
      ...published5(),
      ...c1Got([1, 2, 3, 4, 5]),
      { kind: "fault", t: 20, fault: "store-restore", detail: { head: 3 } },
      pub(21, "s1", 4, "e1", 6),
      pub(22, "s1", 5, "e1", 7),
      pub(23, "s1", 6, "e1", 8),
      out(24, "c1", "s1", "e1", 3, "diverged"),
      del(25, "c1", "s1", 4, "e1", 6),
      del(26, "c1", "s1", 5, "e1", 7),
      del(27, "c1", "s1", 6, "e1", 8),
    ];
    const r = record(lines, { s1: storeLog("s1", "e1", 6, 1, { 4: 6, 5: 7, 6: 8 }) }, [], true);
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "diverged", storeLost: true });
  });

  it("a client with nothing handled adopts a new epoch at offset 0 without an outcome", () => {
    const r = record(
      [out(1, "c1", "s1", "e1", 0), del(5, "c1", "s1", 1, "e2"), del(6, "c1", "s1", 2, "e2")],
      { s1: storeLog("s1", "e2", 2) },
      [],
      true,
    );
    expect(kinds(r)).toEqual([]);
  });

  it("a departed client is not expected to catch up, but its holes still count", () => {
    const pending: ChaosLogLine = { kind: "emit", t: 30, client: "c1", id: "m1", n: 1 };
    const r = record([...published5(), ...c1Got([1, 2, 3]), pending], s1Head5());
    expect(kinds(r)).toEqual(["lost", "message-lost", "promise-missing"]);
    expect(kinds(r, { departedClients: ["c1"] })).toEqual([]);
    const holed = record([...published5(), ...c1Got([1, 3])], s1Head5());
    expect(kinds(holed, { departedClients: ["c1"] })).toEqual(["lost"]);
  });

  it("an allowlisted final error (EXPIRED) with no run passes", () => {
    const r = record([
      { kind: "emit", t: 1, client: "c1", id: "m1", n: 1 },
      { kind: "settled", t: 2, client: "c1", id: "m1", n: 1, ok: false, code: "EXPIRED" },
    ]);
    expect(kinds(r, { allowedErrorCodes: ["EXPIRED"] })).toEqual([]);
    expect(kinds(r)).toEqual(["promise-rejected"]);
  });
});

describe("chaos checker: server → client violations", () => {
  it("lost: the store's last event never delivered", () => {
    const verdict = check(record([...published5(), ...c1Got([1, 2, 3, 4])], s1Head5()));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["lost"]);
    expect(verdict.violations[0]).toMatchObject({ client: "c1", stream: "s1" });
    expect(verdict.violations[0]!.explanation).toContain("#5 of epoch e1");
    expect(verdict.ok).toBe(false);
  });

  it("lost: a hole in the middle, reported at the jump", () => {
    const verdict = check(record([...published5(), ...c1Got([1, 2, 4, 5])], s1Head5()));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["lost"]);
    expect(verdict.violations[0]!.explanation).toContain("#3 of epoch e1");
    expect(verdict.violations[0]!.t).toBe(12);
  });

  it("duplicated: one offset delivered twice", () => {
    expect(kinds(record([...published5(), ...c1Got([1, 2, 2, 3, 4, 5])], s1Head5()))).toEqual([
      "duplicated",
    ]);
  });

  it("out of order: a swap within an epoch", () => {
    expect(kinds(record([...published5(), ...c1Got([1, 3, 2, 4, 5])], s1Head5()))).toEqual([
      "out-of-order",
    ]);
  });

  it("out of order: a delivery from an epoch the client left", () => {
    const r = record(
      [
        out(1, "c1", "s1", "e1", 0),
        del(2, "c1", "s1", 1),
        out(3, "c1", "s1", "e2", 0, "epoch"),
        del(4, "c1", "s1", 1, "e2"),
        del(5, "c1", "s1", 2),
      ],
      { s1: storeLog("s1", "e2", 1) },
      [],
      true,
    );
    expect(kinds(r)).toEqual(["out-of-order"]);
  });

  it("wrong payload: data differs from the store's", () => {
    const lines = [...published5(), ...c1Got([1, 2, 3, 4, 5])];
    lines[8] = del(12, "c1", "s1", 3, "e1", 99);
    const verdict = check(record(lines, s1Head5()));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["wrong-payload"]);
    expect(verdict.violations[0]!.explanation).toContain("e1#3");
  });

  it("wrong payload: data of another stream", () => {
    const lines = [...published5(), ...c1Got([1, 2, 3, 4, 5])];
    lines[8] = { ...del(12, "c1", "s1", 3), data: { stream: "s2", k: 3 } } as ChaosLogLine;
    expect(kinds(record(lines, s1Head5()))).toEqual(["wrong-payload"]);
  });

  it("wrong payload: an event the store no longer holds, checked against what was published", () => {
    // The store trimmed #1..#2; the delivery of #2 carried k 7, published k was 2.
    const lines = [...published5(), ...c1Got([1, 2, 3, 4, 5])];
    lines[7] = del(11, "c1", "s1", 2, "e1", 7);
    expect(kinds(record(lines, { s1: storeLog("s1", "e1", 5, 3) }))).toEqual(["wrong-payload"]);
  });

  it("outcome without loss: reason epoch while the store's stream had one epoch", () => {
    const lines = [...published5(), ...c1Got([1, 2]), out(12, "c1", "s1", "e1", 2, "epoch")];
    lines.push(del(13, "c1", "s1", 3), del(14, "c1", "s1", 4), del(15, "c1", "s1", 5));
    const verdict = check(record(lines, s1Head5(), [], true));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["outcome-without-loss"]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "epoch", storeLost: false });
  });

  it("outcome without loss: any recovered: false when the run could not lose data", () => {
    // Retention trimmed #1..#3 (earliest 4), so the outcome is right, but no loss was possible.
    const lines = [...published5(), ...c1Got([1]), out(11, "c1", "s1", "e1", 3, "trimmed")];
    lines.push(del(12, "c1", "s1", 4), del(13, "c1", "s1", 5));
    const logs = { s1: storeLog("s1", "e1", 5, 4) };
    const verdict = check(record(lines, logs, [], false));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["outcome-without-loss"]);
    expect(verdict.violations[0]!.explanation).toContain("cannot lose data");
    expect(kinds(record(lines, logs, [], false), { allowedOutcomeReasons: ["trimmed"] })).toEqual(
      [],
    );
    expect(kinds(record(lines, logs, [], true))).toEqual([]);
  });

  it("outcome without loss: reason trimmed while the store still holds the needed offset", () => {
    const lines = [...published5(), ...c1Got([1]), out(11, "c1", "s1", "e1", 3, "trimmed")];
    lines.push(del(12, "c1", "s1", 4), del(13, "c1", "s1", 5));
    const verdict = check(record(lines, s1Head5(), [], true));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["outcome-without-loss"]);
    expect(verdict.violations[0]!.explanation).toContain("still holds #2");
  });

  it("outcome without loss: reason diverged while the store still holds the client's event", () => {
    const lines = [...published5(), ...c1Got([1, 2, 3]), out(13, "c1", "s1", "e1", 3, "diverged")];
    lines.push(del(14, "c1", "s1", 4), del(15, "c1", "s1", 5));
    expect(kinds(record(lines, s1Head5(), [], true))).toEqual(["outcome-without-loss"]);
  });

  it("loss without outcome: the epoch changed under the client's deliveries", () => {
    const r = record(
      [
        ...c1Got([1, 2, 3]),
        pub(20, "s1", 1, "e2", 4),
        pub(21, "s1", 2, "e2", 5),
        del(22, "c1", "s1", 1, "e2", 4),
        del(23, "c1", "s1", 2, "e2", 5),
      ],
      { s1: storeLog("s1", "e2", 2, 1, { 1: 4, 2: 5 }) },
      [],
      true,
    );
    const verdict = check(r);
    expect(verdict.violations.map((v) => v.kind)).toEqual(["loss-without-outcome"]);
    expect(verdict.violations[0]!.explanation).toContain("e1 → e2");
  });

  it("loss without outcome: the client ended in an epoch the store no longer has", () => {
    const r = record(
      [...c1Got([1, 2, 3]), pub(20, "s1", 1, "e2", 4)],
      { s1: storeLog("s1", "e2", 1, 1, { 1: 4 }) },
      [],
      true,
    );
    expect(kinds(r)).toEqual(["loss-without-outcome"]);
  });

  it("loss without outcome: the store replaced events the client had, untold", () => {
    // As the diverged test, without the outcome: the client continues at #6 after old #4, #5.
    const lines: ChaosLogLine[] = [
      ...published5(),
      ...c1Got([1, 2, 3, 4, 5]),
      pub(21, "s1", 4, "e1", 6),
      pub(22, "s1", 5, "e1", 7),
      pub(23, "s1", 6, "e1", 8),
      del(27, "c1", "s1", 6, "e1", 8),
    ];
    const r = record(lines, { s1: storeLog("s1", "e1", 6, 1, { 4: 6, 5: 7, 6: 8 }) }, [], true);
    const verdict = check(r);
    expect(verdict.violations.map((v) => v.kind)).toEqual(["loss-without-outcome"]);
    expect(verdict.violations[0]!.explanation).toContain("e1#4");
  });
});

describe("chaos checker: lost acknowledged writes", () => {
  it("loss without outcome: the store lost events the client had (a failover), untold", () => {
    const r = record([...published5(), ...c1Got([1, 2, 3, 4, 5])], { s1: storeLog("s1", "e1", 3) });
    expect(kinds({ ...r, lossPossible: true })).toEqual(["loss-without-outcome"]);
    // When the run could not lose data, the deliveries beyond the store's head are wrong.
    expect(kinds(r)).toEqual(["wrong-payload", "wrong-payload"]);
  });

  it("the same loss told by a diverged outcome passes", () => {
    const lines = [
      ...published5(),
      ...c1Got([1, 2, 3, 4, 5]),
      out(20, "c1", "s1", "e1", 3, "diverged"),
    ];
    const verdict = check(record(lines, { s1: storeLog("s1", "e1", 3) }, [], true));
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "diverged", storeLost: true });
  });
});

describe("chaos checker: client → server violations", () => {
  it("message lost: emitted, never run", () => {
    const m = message();
    const verdict = check(record(m.lines, {}, []));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["message-lost"]);
    expect(verdict.violations[0]).toMatchObject({ client: "c1", id: "m1", t: 20 });
  });

  it("message duplicated: run twice", () => {
    const m = message();
    const runs = [...m.runs, { ...m.runs[0]!, node: "n2", at: AT + 30 }];
    expect(kinds(record(m.lines, {}, runs))).toEqual(["message-duplicated"]);
  });

  it("a run repeated after its node was SIGKILLed mid-handler is counted as a crash rerun, not a violation", () => {
    const m = message();
    const runs = [...m.runs, { ...m.runs[0]!, node: "n2", at: AT + 30 }];
    const kill: ChaosLogLine = { kind: "fault", t: 25, fault: "kill-node", target: "n1" };
    const r = { ...record([...m.lines, kill], {}, runs), runStartedAt: AT };
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures.crashReruns).toBe(1);
    // A kill of another node, or one before the first run, explains nothing.
    const other: ChaosLogLine = { kind: "fault", t: 25, fault: "kill-node", target: "n2" };
    expect(kinds({ ...record([...m.lines, other], {}, runs), runStartedAt: AT })).toEqual([
      "message-duplicated",
    ]);
    const early: ChaosLogLine = { kind: "fault", t: 5, fault: "kill-node", target: "n1" };
    expect(kinds({ ...record([...m.lines, early], {}, runs), runStartedAt: AT })).toEqual([
      "message-duplicated",
    ]);
  });

  it("message out of order (G10): n=2 first run before n=1", () => {
    const a = message(1, "n1", 20);
    const b = message(2, "n2", 22);
    const verdict = check(record([...a.lines, ...b.lines], {}, [...b.runs, ...a.runs]));
    expect(verdict.violations.map((v) => v.kind)).toEqual(["message-out-of-order"]);
    expect(verdict.violations[0]).toMatchObject({ client: "c1", id: "m1" });
  });

  it("a duplicate run after a later message is not an order violation", () => {
    const a = message(1, "n1", 20);
    const b = message(2, "n1", 22);
    const runs = [...a.runs, ...b.runs, { ...a.runs[0]! }];
    expect(kinds(record([...a.lines, ...b.lines], {}, runs))).toEqual(["message-duplicated"]);
  });

  it("message mismatch: the run's n differs from the emitted n", () => {
    const m = message();
    expect(kinds(record(m.lines, {}, [{ ...m.runs[0]!, n: 7 }]))).toEqual(["message-mismatch"]);
  });

  it("message unknown: a run of an id no client emitted", () => {
    const m = message();
    const runs = [...m.runs, { id: "zz", node: "n1", client: "c1", n: 9, at: AT }];
    expect(kinds(record(m.lines, {}, runs))).toEqual(["message-unknown"]);
  });

  it("promise missing: never settled", () => {
    const m = message();
    expect(kinds(record([m.lines[0]!], {}, m.runs))).toEqual(["promise-missing"]);
  });

  it("promise settled twice", () => {
    const m = message();
    const again = { ...m.lines[1]!, t: 40 } as ChaosLogLine;
    expect(kinds(record([...m.lines, again], {}, m.runs))).toEqual(["promise-settled-twice"]);
  });

  it("promise wrong value: another node's answer", () => {
    const m = message(1, "n1");
    expect(kinds(record(m.lines, {}, [{ ...m.runs[0]!, node: "n2" }]))).toEqual([
      "promise-wrong-value",
    ]);
  });

  it("promise rejected: a final error not allowlisted", () => {
    const m = message();
    const failed: ChaosLogLine = {
      kind: "settled",
      t: 21,
      client: "c1",
      id: "m1",
      n: 1,
      ok: false,
      code: "TIMEOUT",
    };
    expect(kinds(record([m.lines[0]!, failed], {}, m.runs))).toEqual(["promise-rejected"]);
  });
});

describe("chaos checker: nodes", () => {
  const stats: ChaosLogLine[] = [
    { kind: "node-stats", t: 1000, node: "n1", rssBytes: 80e6, eventLoopLagMs: 5 },
    { kind: "node-stats", t: 2000, node: "n1", rssBytes: 300e6, eventLoopLagMs: 250 },
    { kind: "node-stats", t: 1000, node: "n2", rssBytes: 90e6, eventLoopLagMs: 4 },
  ];

  it("reports figures only without thresholds", () => {
    const verdict = check(record(stats));
    expect(verdict.ok).toBe(true);
    expect(verdict.figures.nodes.n1).toMatchObject({ maxRssBytes: 300e6, maxEventLoopLagMs: 250 });
  });

  it("node-rss and node-lag over the thresholds", () => {
    const verdict = check(record(stats), { maxRssBytes: 200e6, maxEventLoopLagMs: 100 });
    expect(verdict.violations).toEqual([
      expect.objectContaining({ kind: "node-rss", node: "n1", t: 2000 }),
      expect.objectContaining({ kind: "node-lag", node: "n1", t: 2000 }),
    ]);
  });
});

describe("chaos checker: timeline", () => {
  it("interleaves the client's lines with faults and handler runs, folding in-order runs", () => {
    const m = message(1, "n1", 30);
    const r: ChaosRecord = {
      ...record(
        [
          { kind: "fault", t: 15, fault: "stall", target: "proxy-1", detail: { ms: 5000 } },
          ...published5(),
          ...c1Got([1, 2, 3, 4, 5]),
          del(12, "c2", "s1", 3),
          { kind: "connection", t: 16, client: "c1", connected: false, reason: "ping timeout" },
          ...m.lines,
        ],
        s1Head5(),
        m.runs,
      ),
      runStartedAt: AT,
    };
    const text = timeline(r, "c1");
    const lines = text.split("\n").map((l) => l.trim());
    expect(lines).toEqual([
      "9.0ms  outcome   s1 recovered at e1#0",
      "10.0ms  delivery  s1 e1#1..#5 (5 in order, until 14.0ms)",
      '15.0ms  FAULT     stall proxy-1 {"ms":5000}',
      "16.0ms  disconnected (ping timeout)",
      "30.0ms  emit      m1 n=1",
      "30.0ms  handled   m1 n=1 on n1",
      '31.0ms  settled   m1 n=1 ok {"node":"n1","client":"c1","n":1}',
    ]);
    const near = timeline(r, "c1", { t: 12, windowMs: 1 }).split("\n");
    expect(near.map((l) => l.trim())).toEqual([
      '11.0ms  delivery  s1 e1#2 {"stream":"s1","k":2}',
      '12.0ms  delivery  s1 e1#3 {"stream":"s1","k":3}',
      '13.0ms  delivery  s1 e1#4 {"stream":"s1","k":4}',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a simulated clean run passes; one mutation is caught as its kind.

type Action =
  | { a: "publish"; s: number }
  | { a: "reset"; s: number }
  | { a: "trim"; s: number; by: number }
  | { a: "sub"; c: number; s: number }
  | { a: "step"; c: number; s: number; times: number }
  | { a: "emit"; c: number }
  | { a: "handle"; c: number; node: number }
  | { a: "cut"; c: number };

interface SimStream {
  name: string;
  epochs: number;
  epoch: string;
  head: number;
  earliest: number;
  k: number;
  events: Map<number, { stream: string; k: number }>;
}

interface SimClient {
  name: string;
  positions: Map<number, { epoch: string; offset: number }>;
  n: number;
  pending: { id: string; n: number }[];
}

interface Sim {
  lines: ChaosLogLine[];
  handled: ChaosHandledRun[];
  logs: Map<string, ChaosStoreLog>;
  lossPossible: boolean;
}

function actions(streams: number, clients: number, lossy: boolean): fc.Arbitrary<Action[]> {
  const s = fc.nat(streams - 1);
  const c = fc.nat(clients - 1);
  const options: fc.WeightedArbitrary<Action>[] = [
    { weight: 8, arbitrary: fc.record({ a: fc.constant("publish" as const), s }) },
    { weight: 3, arbitrary: fc.record({ a: fc.constant("sub" as const), c, s }) },
    {
      weight: 8,
      arbitrary: fc.record({
        a: fc.constant("step" as const),
        c,
        s,
        times: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ a: fc.constant("emit" as const), c }) },
    { weight: 3, arbitrary: fc.record({ a: fc.constant("handle" as const), c, node: fc.nat(2) }) },
    { weight: 2, arbitrary: fc.record({ a: fc.constant("cut" as const), c }) },
  ];
  if (lossy) {
    options.push(
      { weight: 2, arbitrary: fc.record({ a: fc.constant("reset" as const), s }) },
      {
        weight: 2,
        arbitrary: fc.record({
          a: fc.constant("trim" as const),
          s,
          by: fc.integer({ min: 1, max: 4 }),
        }),
      },
    );
  }
  return fc.array(fc.oneof(...options), { minLength: 5, maxLength: 200, size: "medium" });
}

/** Runs the actions against a model store and clients that follow the rules; drains at the end. */
function simulate(streamCount: number, clientCount: number, script: Action[]): Sim {
  const lines: ChaosLogLine[] = [];
  const handled: ChaosHandledRun[] = [];
  let t = 0;
  let lossPossible = false;
  const streams: SimStream[] = Array.from({ length: streamCount }, (_, i) => ({
    name: `s${i}`,
    epochs: 0,
    epoch: `s${i}-e0`,
    head: 0,
    earliest: 1,
    k: 0,
    events: new Map(),
  }));
  const clients: SimClient[] = Array.from({ length: clientCount }, (_, i) => ({
    name: `c${i}`,
    positions: new Map(),
    n: 0,
    pending: [],
  }));

  const step = (c: SimClient, si: number): boolean => {
    const pos = c.positions.get(si);
    const st = streams[si]!;
    if (!pos) return false;
    const outcome = (reason: string, offset: number): void => {
      lines.push({
        kind: "outcome",
        t: ++t,
        client: c.name,
        stream: st.name,
        recovered: false,
        reason,
        epoch: st.epoch,
        offset,
      });
      pos.epoch = st.epoch;
      pos.offset = offset;
    };
    if (pos.epoch !== st.epoch) {
      if (pos.offset === 0)
        pos.epoch = st.epoch; // offset 0 is valid in every epoch
      else {
        outcome("epoch", st.earliest - 1);
        return true;
      }
    }
    if (pos.offset < st.earliest - 1) {
      outcome("trimmed", st.earliest - 1);
      return true;
    }
    if (pos.offset >= st.head) return false;
    pos.offset++;
    lines.push({
      kind: "delivery",
      t: ++t,
      client: c.name,
      stream: st.name,
      epoch: st.epoch,
      offset: pos.offset,
      data: { ...st.events.get(pos.offset)! },
    });
    return true;
  };

  const handle = (c: SimClient, node: string): void => {
    const m = c.pending.shift();
    if (!m) return;
    handled.push({ id: m.id, node, client: c.name, n: m.n, at: AT + ++t });
    lines.push({
      kind: "settled",
      t: ++t,
      client: c.name,
      id: m.id,
      n: m.n,
      ok: true,
      value: { node, client: c.name, n: m.n },
    });
  };

  for (const action of script) {
    switch (action.a) {
      case "publish": {
        const st = streams[action.s]!;
        st.k++;
        st.head++;
        st.events.set(st.head, { stream: st.name, k: st.k });
        lines.push(pub(++t, st.name, st.head, st.epoch, st.k));
        break;
      }
      case "reset": {
        const st = streams[action.s]!;
        st.epochs++;
        st.epoch = `${st.name}-e${st.epochs}`;
        st.head = 0;
        st.earliest = 1;
        st.events.clear();
        lossPossible = true;
        lines.push({ kind: "fault", t: ++t, fault: "store-restart", target: st.name });
        break;
      }
      case "trim": {
        const st = streams[action.s]!;
        const earliest = Math.min(st.head + 1, st.earliest + action.by);
        for (let o = st.earliest; o < earliest; o++) st.events.delete(o);
        st.earliest = earliest;
        lossPossible = true;
        lines.push({ kind: "fault", t: ++t, fault: "retention", target: st.name });
        break;
      }
      case "sub": {
        const c = clients[action.c]!;
        const st = streams[action.s]!;
        if (c.positions.has(action.s)) break;
        c.positions.set(action.s, { epoch: st.epoch, offset: st.head });
        lines.push(out(++t, c.name, st.name, st.epoch, st.head));
        break;
      }
      case "step":
        for (let i = 0; i < action.times; i++) step(clients[action.c]!, action.s);
        break;
      case "emit": {
        const c = clients[action.c]!;
        const n = ++c.n;
        const id = `${c.name}-m${n}`;
        c.pending.push({ id, n });
        lines.push({ kind: "emit", t: ++t, client: c.name, id, n });
        break;
      }
      case "handle":
        handle(clients[action.c]!, `n${action.node}`);
        break;
      case "cut": {
        // A reconnect: each stream the store can still serve resumes with recovered: true.
        const c = clients[action.c]!;
        lines.push({ kind: "connection", t: ++t, client: c.name, connected: false, reason: "cut" });
        lines.push({ kind: "connection", t: ++t, client: c.name, connected: true });
        for (const [si, pos] of c.positions) {
          const st = streams[si]!;
          if (pos.epoch === st.epoch && pos.offset >= st.earliest - 1) {
            lines.push(out(++t, c.name, st.name, pos.epoch, pos.offset));
          }
        }
        break;
      }
    }
  }
  for (const c of clients) {
    for (const si of c.positions.keys()) while (step(c, si));
    while (c.pending.length > 0) handle(c, "n0");
  }
  const logs = new Map<string, ChaosStoreLog>();
  for (const st of streams) {
    logs.set(st.name, {
      epoch: st.epoch,
      head: st.head,
      earliest: st.earliest,
      events: new Map(st.events),
    });
  }
  return { lines, handled, logs, lossPossible };
}

type Mutation =
  | "drop-delivery"
  | "duplicate-delivery"
  | "swap-deliveries"
  | "corrupt-payload"
  | "drop-run"
  | "duplicate-run"
  | "swap-runs"
  | "drop-outcome"
  | "drop-settled"
  | "fail-settled";

interface Candidate {
  mutation: Mutation;
  expect: ViolationKind;
  apply: (sim: Sim) => void;
}

const streamKey = (line: ChaosLogLine): string | undefined =>
  line.kind === "delivery" || line.kind === "outcome" ? `${line.client}/${line.stream}` : undefined;

/** Every mutation of `sim` that a checker must be able to see, with the kind it must report. */
function candidates(sim: Sim): Candidate[] {
  const out: Candidate[] = [];
  const { lines, handled } = sim;
  // The index of the next delivery/outcome line of the same client and stream.
  const next = new Map<number, number>();
  const lastOf = new Map<string, number>();
  for (let i = lines.length - 1; i >= 0; i--) {
    const key = streamKey(lines[i]!);
    if (key === undefined) continue;
    const after = lastOf.get(key);
    if (after !== undefined) next.set(i, after);
    lastOf.set(key, i);
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.kind === "delivery") {
      const j = next.get(i);
      const after = j === undefined ? undefined : lines[j]!;
      const nextInEpoch = after?.kind === "delivery" && after.epoch === line.epoch;
      const finalEpoch = sim.logs.get(line.stream)?.epoch === line.epoch;
      if (nextInEpoch || (j === undefined && finalEpoch)) {
        out.push({ mutation: "drop-delivery", expect: "lost", apply: (s) => s.lines.splice(i, 1) });
      }
      out.push({
        mutation: "duplicate-delivery",
        expect: "duplicated",
        apply: (s) => s.lines.splice(i + 1, 0, { ...line }),
      });
      if (nextInEpoch) {
        out.push({
          mutation: "swap-deliveries",
          expect: "out-of-order",
          apply: (s) => {
            s.lines[i] = after;
            s.lines[j!] = line;
          },
        });
      }
      out.push({
        mutation: "corrupt-payload",
        expect: "wrong-payload",
        apply: (s) => {
          const data = line.data as { stream: string; k: number };
          s.lines[i] = { ...line, data: { ...data, k: data.k + 1_000_000 } };
        },
      });
    } else if (line.kind === "outcome" && !line.recovered) {
      const j = next.get(i);
      const after = j === undefined ? undefined : lines[j]!;
      if (after?.kind === "delivery" && after.epoch === line.epoch) {
        out.push({
          mutation: "drop-outcome",
          expect: line.reason === "epoch" ? "loss-without-outcome" : "lost",
          apply: (s) => s.lines.splice(i, 1),
        });
      }
    } else if (line.kind === "settled") {
      out.push({
        mutation: "drop-settled",
        expect: "promise-missing",
        apply: (s) => s.lines.splice(i, 1),
      });
      out.push({
        mutation: "fail-settled",
        expect: "promise-rejected",
        apply: (s) => {
          s.lines[i] = {
            kind: "settled",
            t: line.t,
            client: line.client,
            id: line.id,
            n: line.n,
            ok: false,
            code: "TIMEOUT",
          };
        },
      });
    }
  }
  const runsOf = new Map<string, number[]>();
  for (let i = 0; i < handled.length; i++) {
    const run = handled[i]!;
    out.push({
      mutation: "drop-run",
      expect: "message-lost",
      apply: (s) => s.handled.splice(i, 1),
    });
    out.push({
      mutation: "duplicate-run",
      expect: "message-duplicated",
      apply: (s) => s.handled.splice(i + 1, 0, { ...run, node: "n9" }),
    });
    const list = runsOf.get(run.client) ?? [];
    list.push(i);
    runsOf.set(run.client, list);
  }
  for (const list of runsOf.values()) {
    for (let a = 0; a + 1 < list.length; a++) {
      const i = list[a]!;
      const j = list[a + 1]!;
      out.push({
        mutation: "swap-runs",
        expect: "message-out-of-order",
        apply: (s) => {
          const x = s.handled[i]!;
          s.handled[i] = s.handled[j]!;
          s.handled[j] = x;
        },
      });
    }
  }
  return out;
}

/** The record as the orchestrator might gather it: in time order, or grouped by process. */
function toRecord(sim: Sim, grouped: boolean): ChaosRecord {
  let lines = sim.lines;
  if (grouped) {
    const owner = (l: ChaosLogLine): string => ("client" in l ? l.client : "");
    lines = lines
      .map((line, i) => ({ line, i }))
      .sort((a, b) => owner(a.line).localeCompare(owner(b.line)) || a.i - b.i)
      .map((x) => x.line);
  }
  return { lines, handled: sim.handled, logs: sim.logs, lossPossible: sim.lossPossible };
}

const runArb = fc
  .record({
    streams: fc.integer({ min: 1, max: 3 }),
    clients: fc.integer({ min: 1, max: 4 }),
    lossy: fc.boolean(),
  })
  .chain(({ streams, clients, lossy }) =>
    fc.record({
      streams: fc.constant(streams),
      clients: fc.constant(clients),
      script: actions(streams, clients, lossy),
      grouped: fc.boolean(),
    }),
  );

describe("chaos checker: property", () => {
  it("a clean simulated run passes", () => {
    fc.assert(
      fc.property(runArb, ({ streams, clients, script, grouped }) => {
        const sim = simulate(streams, clients, script);
        const verdict = check(toRecord(sim, grouped));
        expect(verdict.violations).toEqual([]);
        expect(verdict.ok).toBe(true);
        expect(verdict.figures.deliveries).toBe(
          sim.lines.filter((l) => l.kind === "delivery").length,
        );
      }),
      { numRuns: 1000 },
    );
  });

  it("one mutation of a clean run is reported as its kind, and only as it", () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(runArb, fc.nat(), fc.nat(), ({ streams, clients, script, grouped }, a, b) => {
        const sim = simulate(streams, clients, script);
        const byMutation = new Map<Mutation, Candidate[]>();
        for (const c of candidates(sim)) {
          const list = byMutation.get(c.mutation);
          if (list) list.push(c);
          else byMutation.set(c.mutation, [c]);
        }
        fc.pre(byMutation.size > 0);
        const types = [...byMutation.values()];
        const ofType = types[a % types.length]!;
        const chosen = ofType[b % ofType.length]!;
        chosen.apply(sim);
        const label = `${chosen.mutation} → ${chosen.expect}`;
        seen.set(label, (seen.get(label) ?? 0) + 1);
        const verdict = check(toRecord(sim, grouped));
        expect(verdict.ok, chosen.mutation).toBe(false);
        expect([...new Set(verdict.violations.map((v) => v.kind))], chosen.mutation).toEqual([
          chosen.expect,
        ]);
      }),
      { numRuns: 1000 },
    );
    // Every mutation (and both kinds of dropped outcome) came up.
    expect([...seen.keys()].sort()).toEqual(
      [
        "corrupt-payload → wrong-payload",
        "drop-delivery → lost",
        "drop-outcome → loss-without-outcome",
        "drop-outcome → lost",
        "drop-run → message-lost",
        "drop-settled → promise-missing",
        "duplicate-delivery → duplicated",
        "duplicate-run → message-duplicated",
        "fail-settled → promise-rejected",
        "swap-deliveries → out-of-order",
        "swap-runs → message-out-of-order",
      ].sort(),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("chaos checker: size", () => {
  it("checks 100k deliveries across 50 clients and 20k messages in under 3 s", () => {
    const streams = 5;
    const perStream = 20_000;
    const lines: ChaosLogLine[] = [];
    const logs = new Map<string, ChaosStoreLog>();
    let t = 0;
    for (let s = 0; s < streams; s++) {
      const stream = `s${s}`;
      const events = new Map<number, unknown>();
      for (let o = 1; o <= perStream; o++) {
        events.set(o, { stream, k: o });
        lines.push(pub(++t, stream, o, "e1", o));
      }
      logs.set(stream, { epoch: "e1", head: perStream, earliest: 1, events });
    }
    const handled: ChaosHandledRun[] = [];
    for (let c = 0; c < 50; c++) {
      const client = `c${c}`;
      const stream = `s${c % streams}`;
      // Each client joins late and gets the last 2,000 events of its stream.
      const start = perStream - 2_000;
      lines.push(out(++t, client, stream, "e1", start));
      for (let o = start + 1; o <= perStream; o++) lines.push(del(++t, client, stream, o));
      for (let n = 1; n <= 400; n++) {
        const id = `${client}-m${n}`;
        lines.push({ kind: "emit", t: ++t, client, id, n });
        handled.push({ id, node: "n1", client, n, at: AT + t });
        lines.push({
          kind: "settled",
          t: ++t,
          client,
          id,
          n,
          ok: true,
          value: { node: "n1", client, n },
        });
      }
    }
    const r: ChaosRecord = { lines, handled, logs, lossPossible: false };
    const started = performance.now();
    const verdict = check(r);
    const ms = performance.now() - started;
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures.deliveries).toBe(100_000);
    expect(verdict.figures.messages).toBe(20_000);
    expect(ms).toBeLessThan(3_000);
  });
});

describe("chaos checker: browser tab reloads", () => {
  const reload = (t: number, client = "c1"): ChaosLogLine => ({ kind: "reload", t, client });
  /** c1 got 1..4, reloaded, and the new instance resumed from the stored position e1#2. */
  const resumed = (withReload: boolean, after: number[]): ChaosLogLine[] => [
    ...published5(),
    ...c1Got([1, 2, 3, 4]),
    ...(withReload ? [reload(14)] : []),
    out(15, "c1", "s1", "e1", 2),
    ...after.map((o, i) => del(16 + i, "c1", "s1", o)),
  ];

  it("after a reload the events after the stored position come again: not duplicates (G3)", () => {
    expect(check(record(resumed(true, [3, 4, 5]), s1Head5())).violations).toEqual([]);
    // Control: the same lines without the reload are duplicates.
    expect(kinds(record(resumed(false, [3, 4, 5]), s1Head5()))).toEqual([
      "duplicated",
      "duplicated",
    ]);
  });

  it("a reloaded instance must still deliver every event after its stored position", () => {
    expect(kinds(record(resumed(true, [4, 5]), s1Head5()))).toEqual(["lost"]);
    expect(kinds(record(resumed(true, [3, 3, 4, 5]), s1Head5()))).toEqual(["duplicated"]);
  });

  it("a stored position ahead of what the handlers ran is a loss, reload or not", () => {
    const lines = [
      ...published5(),
      ...c1Got([1, 2]),
      reload(14),
      out(15, "c1", "s1", "e1", 4),
      del(16, "c1", "s1", 5),
    ];
    expect(kinds(record(lines, s1Head5()))).toEqual(["lost"]);
  });

  it("a message emitted before a reload is settled after it, and G10 orders each page life", () => {
    const a = message(1, "n1", 20);
    const b = message(2, "n1", 22);
    const [emitA, settledA] = a.lines as [ChaosLogLine, ChaosLogLine];
    const [emitB, settledB] = b.lines as [ChaosLogLine, ChaosLogLine];
    // n=2, sent by the new page life, ran before n=1, which the new outbox session adopted.
    const runs = [...b.runs, ...a.runs];
    const lines = [emitA, reload(21), emitB, settledB, { ...settledA, t: 24 }];
    expect(check(record(lines, {}, runs)).violations).toEqual([]);
    expect(
      kinds(
        record(
          lines.filter((l) => l.kind !== "reload"),
          {},
          runs,
        ),
      ),
    ).toEqual(["message-out-of-order"]);
    // Within one page life the order still holds.
    const c = message(3, "n1", 26);
    const later = [...lines, ...c.lines];
    expect(kinds(record(later, {}, [...c.runs, ...b.runs, ...a.runs]))).toEqual([
      "message-out-of-order",
    ]);
    expect(check(record(later, {}, [...b.runs, ...c.runs, ...a.runs])).violations).toEqual([]);
  });

  it("the timeline shows the reload", () => {
    const text = timeline(record(resumed(true, [3, 4, 5]), s1Head5()), "c1");
    expect(text).toContain("RELOADED");
  });
});

// ---------------------------------------------------------------------------------------------
// Store restarts (`restart-store`): the store's history captured around each restart

describe("chaos checker: store restarts", () => {
  type Restart = NonNullable<ChaosRecord["restarts"]>[number];
  const logs = (log: ChaosStoreLog): Map<string, ChaosStoreLog> => new Map([["s1", log]]);
  /** A volatile restart at t 20–22: e1 held #1..#3 before, nothing after. */
  const volatile = (): Restart => ({
    mode: "volatile",
    t: 20,
    upT: 22,
    before: logs(storeLog("s1", "e1", 3)),
    after: logs({ epoch: "", head: 0, earliest: 1, events: new Map() }),
  });
  /** e1#1..#3 (k 1..3), then a volatile restart, then e2#1..#2 (k 4, 5). */
  const epochLines = (): ChaosLogLine[] => [
    pub(1, "s1", 1),
    pub(2, "s1", 2),
    pub(3, "s1", 3),
    out(4, "c1", "s1", "e1", 0),
    del(5, "c1", "s1", 1),
    del(6, "c1", "s1", 2),
    pub(23, "s1", 1, "e2", 4),
    pub(24, "s1", 2, "e2", 5),
  ];
  const e2Told = (): ChaosLogLine[] => [
    out(25, "c1", "s1", "e2", 0, "epoch"),
    del(26, "c1", "s1", 1, "e2", 4),
    del(27, "c1", "s1", 2, "e2", 5),
  ];
  const finalE2 = () => ({ s1: storeLog("s1", "e2", 2, 1, { 1: 4, 2: 5 }) });
  const withRestarts = (r: ChaosRecord, restarts: Restart[]): ChaosRecord => ({
    ...r,
    restarts,
    runStartedAt: AT,
  });

  it("an epoch outcome after a volatile restart that lost the client's epoch passes, counted", () => {
    const r = withRestarts(record([...epochLines(), ...e2Told()], finalE2(), [], true), [
      volatile(),
    ]);
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "epoch", storeLost: true });
    expect(verdict.figures.storeRestarts).toEqual({ volatile: 1 });
  });

  it("an epoch outcome to an empty stream after a volatile restart with nothing published since passes", () => {
    // The store came back empty and stayed so: the client is told `epoch` with no epoch ("").
    const lines = [...epochLines().slice(0, 6), out(25, "c1", "s1", "", 0, "epoch")];
    const empty = { s1: { epoch: "", head: 0, earliest: 1, events: new Map() } };
    const r = withRestarts(record(lines, empty, [], true), [volatile()]);
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "epoch", storeLost: true });
    // Without the restart, the same outcome is unexplained.
    expect(kinds(withRestarts(record(lines, empty, [], true), []))).toEqual([
      "outcome-without-loss",
    ]);
  });

  it("outcome without loss: an epoch outcome when no lossy restart lost the client's epoch", () => {
    const base = record([...epochLines(), ...e2Told()], finalE2(), [], true);
    // Only a persistent restart: the store kept e1, whatever the lines say.
    const persistent: Restart = { mode: "persistent", t: 20, upT: 22 };
    expect(kinds(withRestarts(base, [persistent]))).toEqual(["outcome-without-loss"]);
    // A volatile restart after the outcome explains nothing.
    expect(kinds(withRestarts(base, [{ ...volatile(), t: 30, upT: 31 }]))).toEqual([
      "outcome-without-loss",
    ]);
  });

  it("loss without outcome: the client moved from the lost epoch to the new one untold", () => {
    const untold = [
      ...epochLines(),
      del(26, "c1", "s1", 1, "e2", 4),
      del(27, "c1", "s1", 2, "e2", 5),
    ];
    const r = withRestarts(record(untold, finalE2(), [], true), [volatile()]);
    expect(kinds(r)).toEqual(["loss-without-outcome"]);
  });

  it("wrong payload: a delivery of a lost epoch is checked against the captured log", () => {
    // No published line for e1#3: only the capture before the restart says it was k 3.
    const lines = [
      ...epochLines().filter(
        (l) => !(l.kind === "published" && l.offset === 3 && l.epoch === "e1"),
      ),
      del(7, "c1", "s1", 3, "e1", 99),
      ...e2Told(),
    ];
    const r = withRestarts(record(lines, finalE2(), [], true), [volatile()]);
    expect(kinds(r)).toEqual(["wrong-payload"]);
    const right = lines.map((l) =>
      l.kind === "delivery" && l.offset === 3 ? del(7, "c1", "s1", 3) : l,
    );
    expect(kinds(withRestarts(record(right, finalE2(), [], true), [volatile()]))).toEqual([]);
  });

  /** e1#1..#5 (k 1..5) delivered; a snapshot restart at t 20–22 back to head 3; k 6, 7 at #4, #5. */
  const snapshot = (): Restart => ({
    mode: "snapshot",
    t: 20,
    upT: 22,
    before: logs(storeLog("s1", "e1", 5)),
    after: logs(storeLog("s1", "e1", 3)),
  });
  const restoredLines = (): ChaosLogLine[] => [
    ...published5(),
    ...c1Got([1, 2, 3, 4, 5]),
    pub(23, "s1", 4, "e1", 6),
    pub(24, "s1", 5, "e1", 7),
  ];
  const finalRestored = () => ({ s1: storeLog("s1", "e1", 5, 1, { 4: 6, 5: 7 }) });
  const divergedTold = (): ChaosLogLine[] => [
    out(25, "c1", "s1", "e1", 3, "diverged"),
    del(26, "c1", "s1", 4, "e1", 6),
    del(27, "c1", "s1", 5, "e1", 7),
  ];

  it("a diverged outcome after a snapshot restart that replaced the client's last event passes", () => {
    const r = withRestarts(
      record([...restoredLines(), ...divergedTold()], finalRestored(), [], true),
      [snapshot()],
    );
    const verdict = check(r);
    expect(verdict.violations).toEqual([]);
    expect(verdict.recoveries[0]).toMatchObject({ reason: "diverged", storeLost: true });
    expect(verdict.figures.storeRestarts).toEqual({ snapshot: 1 });
  });

  it("an epoch the client had left, brought back shorter by an older snapshot, is told and its new records are not duplicates", () => {
    // e1#1..#5 delivered; a volatile restart (t 20–22) starts e2 (#1, #2 delivered after an
    // epoch outcome); then a snapshot taken while e1 was at #3 is restored (t 30–32) and new
    // appends reuse e1#4 and #5.
    const older: Restart = {
      mode: "snapshot",
      t: 30,
      upT: 32,
      before: logs(storeLog("s1", "e2", 2, 1, { 1: 6, 2: 7 })),
      after: logs(storeLog("s1", "e1", 3)),
    };
    const lost: Restart = {
      ...volatile(),
      before: logs(storeLog("s1", "e1", 5)),
    };
    const lines = [
      ...published5(),
      ...c1Got([1, 2, 3, 4, 5]),
      pub(23, "s1", 1, "e2", 6),
      pub(24, "s1", 2, "e2", 7),
      out(25, "c1", "s1", "e2", 0, "epoch"),
      del(26, "c1", "s1", 1, "e2", 6),
      del(27, "c1", "s1", 2, "e2", 7),
      pub(33, "s1", 4, "e1", 8),
      pub(34, "s1", 5, "e1", 9),
      out(35, "c1", "s1", "e1", 3, "epoch"),
      del(36, "c1", "s1", 4, "e1", 8),
      del(37, "c1", "s1", 5, "e1", 9),
    ];
    const final = { s1: storeLog("s1", "e1", 5, 1, { 4: 8, 5: 9 }) };
    const r = withRestarts(record(lines, final, [], true), [lost, older]);
    expect(check(r).violations).toEqual([]);
  });

  it("loss without outcome: a snapshot restart replaced the client's events, untold", () => {
    const r = withRestarts(record(restoredLines(), finalRestored(), [], true), [snapshot()]);
    expect(kinds(r)).toEqual(["loss-without-outcome"]);
  });

  it("outcome without loss: a diverged outcome no snapshot restart explains", () => {
    const base = record([...restoredLines(), ...divergedTold()], finalRestored(), [], true);
    // No restart at all (the final log alone would excuse it).
    expect(kinds(withRestarts(base, []))).toEqual(["outcome-without-loss"]);
    // A snapshot restart that still held the client's last event #5.
    const kept: Restart = { ...snapshot(), after: logs(storeLog("s1", "e1", 5)) };
    expect(kinds(withRestarts(base, [kept]))).toEqual(["outcome-without-loss"]);
    // A volatile restart is not a divergence.
    expect(kinds(withRestarts(base, [{ ...snapshot(), mode: "volatile" }]))).toEqual([
      "outcome-without-loss",
    ]);
  });

  it("a message run again across a volatile restart window is a store-loss rerun, nothing else is", () => {
    const m = message(1, "n1", 18);
    const rerun = (at: number) => [...m.runs, { ...m.runs[0]!, node: "n2", at: AT + at }];
    const verdict = check(withRestarts(record(m.lines, {}, rerun(25), true), [volatile()]));
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures.storeLossReruns).toBe(1);
    // A persistent restart keeps the dedup entry: a run done 10 s before it, run again, is a duplicate.
    const persistent: Restart = { mode: "persistent", t: 10_018, upT: 10_020 };
    const oldRuns = [...m.runs, { ...m.runs[0]!, node: "n2", at: AT + 10_025 }];
    expect(kinds(withRestarts(record(m.lines, {}, oldRuns), [persistent]))).toEqual([
      "message-duplicated",
    ]);
    // Both runs before the restart, or both after it: not its consequence.
    expect(kinds(withRestarts(record(m.lines, {}, rerun(19), true), [volatile()]))).toEqual([
      "message-duplicated",
    ]);
    const late = message(1, "n1", 23);
    const lateRuns = [...late.runs, { ...late.runs[0]!, node: "n2", at: AT + 25 }];
    expect(kinds(withRestarts(record(late.lines, {}, lateRuns, true), [volatile()]))).toEqual([
      "message-duplicated",
    ]);
  });

  it("a message run again because the store died while its first run was in flight is a store-down rerun", () => {
    // The first run started 2 s before the kill: its answer could not be stored (stored: false).
    const m = message(1, "n1", 18);
    const runs = [...m.runs, { ...m.runs[0]!, at: AT + 30 }];
    const persistent: Restart = { mode: "persistent", t: 20, upT: 22 };
    const verdict = check(withRestarts(record(m.lines, {}, runs), [persistent]));
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures.storeDownReruns).toBe(1);
    expect(verdict.figures.storeLossReruns).toBe(0);
    // Without the restart it is a duplicate.
    expect(kinds(withRestarts(record(m.lines, {}, runs), []))).toEqual(["message-duplicated"]);
  });

  it("a first run recorded while the store was down (claim granted just before the kill, handler started late) is a store-down rerun; one after it was back is a duplicate", () => {
    const persistent: Restart = { mode: "persistent", t: 20, upT: 22 };
    const during = message(1, "n1", 21);
    const runs = [...during.runs, { ...during.runs[0]!, at: AT + 30 }];
    const verdict = check(withRestarts(record(during.lines, {}, runs), [persistent]));
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures.storeDownReruns).toBe(1);
    const after = message(1, "n1", 23);
    const afterRuns = [...after.runs, { ...after.runs[0]!, at: AT + 30 }];
    expect(kinds(withRestarts(record(after.lines, {}, afterRuns), [persistent]))).toEqual([
      "message-duplicated",
    ]);
  });
});
