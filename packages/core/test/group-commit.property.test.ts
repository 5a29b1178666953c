import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isAssuredError } from "../src/index.js";
import { GroupCommit } from "../src/protocol-entry.js";

/*
 * Adaptive group commit (DESIGN §8) against a model: random interleavings of adds (keys and
 * sizes), ends of turns, and settlements (success, rejection) of flushes in flight, with
 * synchronous, throwing and asynchronous flush functions. Checked after every step:
 * - each key's flushed groups, concatenated, are its added items in order (none twice, none
 *   reordered), each group within maxItems and maxBytes (or a single item);
 * - at most one flush per key in flight;
 * - a turn is scheduled whenever something waits for one (nothing is stuck);
 * - a key with no flush in flight whose turn passed without a new item has flushed everything
 *   added before that turn (a lone item waits one idle turn), and while items keep coming none
 *   waits more than maxTurns + 1 turn ends;
 * and at the end, after the last adds, turns and settlements flush everything (also after errors).
 */

interface Item {
  key: string;
  seq: number;
  size: number;
  /** Turn ends seen while it waited to be handed to flush, with no flush of its key in flight. */
  turnsWaited: number;
  /** Every turn end seen while it waited. */
  turnsTotal: number;
  /** A turn passed without a new item of its key while it waited. */
  idleTurnSeen: boolean;
}

type Op =
  | { kind: "add"; key: number; size: number }
  | { kind: "turn" }
  | { kind: "settle"; key: number; fail: boolean };

type Mode = "sync" | "throw-sometimes" | "async";

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("add" as const),
      key: fc.nat(2),
      size: fc.oneof(fc.nat(40), fc.constant(200)),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("turn" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("settle" as const),
      key: fc.nat(2),
      fail: fc.boolean(),
    }),
  },
);

function harness(mode: Mode, bounds: { maxItems: number; maxBytes: number; maxTurns: number }) {
  const flushed = new Map<string, Item[]>();
  const groups: Item[][] = [];
  const inFlight = new Map<string, { resolve(): void; reject(e: Error): void }>();
  let scheduled: (() => void) | undefined;
  let flushCalls = 0;
  const gc = new GroupCommit<string, Item>({
    ...bounds,
    sizeOf: (item) => item.size,
    afterTurn: (callback) => {
      expect(scheduled).toBeUndefined(); // one turn callback at a time
      scheduled = callback;
    },
    flush: (key, items) => {
      expect(inFlight.has(key)).toBe(false);
      flushCalls++;
      groups.push(items);
      flushed.set(key, [...(flushed.get(key) ?? []), ...items]);
      if (mode === "sync") return;
      if (mode === "throw-sometimes") {
        if (flushCalls % 3 === 0) throw new Error("flush failed");
        return;
      }
      return new Promise<void>((resolve, reject) => inFlight.set(key, { resolve, reject }));
    },
    onError: () => undefined,
  });
  return {
    gc,
    flushed,
    groups,
    inFlight,
    /** The scheduled end-of-turn callback, if any (taken: the primitive may schedule again). */
    takeTurn: () => {
      const callback = scheduled;
      scheduled = undefined;
      return callback;
    },
    isScheduled: () => scheduled !== undefined,
  };
}

async function check(
  mode: Mode,
  ops: Op[],
  bounds: { maxItems: number; maxBytes: number; maxTurns: number },
) {
  const h = harness(mode, bounds);
  const added = new Map<string, Item[]>();
  const waiting: Item[] = []; // added, not yet flushed
  let seq = 0;
  /** Keys that got an item since the last turn ended. */
  const freshKeys = new Set<string>();
  const settleKey = async (key: string, fail: boolean) => {
    const flight = h.inFlight.get(key);
    if (flight === undefined) return;
    h.inFlight.delete(key);
    const oldest = waiting.find((item) => item.key === key);
    if (fail) flight.reject(new Error("store down"));
    else flight.resolve();
    // Let the then-callbacks run.
    for (let i = 0; i < 3; i++) await Promise.resolve();
    // Items that became due while the flush was in flight go as soon as it settles.
    if (oldest && (oldest.idleTurnSeen || oldest.turnsTotal > bounds.maxTurns)) {
      expect(isFlushed(oldest)).toBe(true);
    }
  };
  const isFlushed = (item: Item) => (h.flushed.get(item.key) ?? []).includes(item);
  const invariants = () => {
    for (const [key, items] of added) {
      const out = h.flushed.get(key) ?? [];
      expect(out).toEqual(items.slice(0, out.length));
    }
    for (const group of h.groups) {
      expect(group.length).toBeGreaterThan(0);
      expect(group.length).toBeLessThanOrEqual(bounds.maxItems);
      const bytes = group.reduce((n, i) => n + i.size, 0);
      if (group.length > 1) expect(bytes).toBeLessThanOrEqual(bounds.maxBytes);
    }
    for (let i = waiting.length - 1; i >= 0; i--) if (isFlushed(waiting[i]!)) waiting.splice(i, 1);
    // Something waits and no flush is in flight for it: a turn must come.
    if (waiting.some((item) => !h.inFlight.has(item.key))) expect(h.isScheduled()).toBe(true);
    expect(h.gc.pending).toBe(waiting.length);
  };
  for (const o of ops) {
    if (o.kind === "add") {
      const key = `k${o.key}`;
      const item = {
        key,
        seq: seq++,
        size: o.size,
        turnsWaited: 0,
        turnsTotal: 0,
        idleTurnSeen: false,
      };
      added.set(key, [...(added.get(key) ?? []), item]);
      waiting.push(item);
      freshKeys.add(key);
      h.gc.add(key, item);
    } else if (o.kind === "turn") {
      const callback = h.takeTurn();
      const before = waiting.slice();
      const idleKeys = new Set(before.map((i) => i.key).filter((k) => !freshKeys.has(k)));
      freshKeys.clear();
      if (callback) callback();
      for (let i = 0; i < 3; i++) await Promise.resolve();
      for (const item of before) {
        if (isFlushed(item)) continue;
        item.turnsTotal++;
        if (idleKeys.has(item.key)) item.idleTurnSeen = true;
        if (h.inFlight.has(item.key)) continue;
        item.turnsWaited++;
        // A key that was idle for a whole turn, with nothing in flight, flushed its items.
        expect(idleKeys.has(item.key)).toBe(false);
        expect(item.turnsWaited).toBeLessThanOrEqual(bounds.maxTurns);
      }
    } else {
      await settleKey(`k${o.key}`, o.fail);
    }
    invariants();
  }
  // The end: turns and settlements (some failing) until everything is flushed.
  for (let round = 0; round < 1000 && (waiting.length > 0 || h.inFlight.size > 0); round++) {
    for (const key of [...h.inFlight.keys()]) await settleKey(key, round % 2 === 0);
    h.takeTurn()?.();
    for (let i = 0; i < 3; i++) await Promise.resolve();
    invariants();
  }
  expect(waiting).toEqual([]);
  expect(h.inFlight.size).toBe(0);
  for (const [key, items] of added) expect(h.flushed.get(key)).toEqual(items);
}

const bounds = fc.record({
  maxItems: fc.integer({ min: 1, max: 5 }),
  maxBytes: fc.integer({ min: 1, max: 120 }),
  maxTurns: fc.integer({ min: 0, max: 4 }),
});

describe("GroupCommit (model)", () => {
  for (const mode of ["sync", "throw-sometimes", "async"] as const) {
    it(`flushes every item once, in order, within the bounds (${mode} flush)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 60 }), bounds, (ops, b) => check(mode, ops, b)),
        { numRuns: 300 },
      );
    });
  }
});

describe("GroupCommit", () => {
  const manual = (maxTurns = 3) => {
    const turns: (() => void)[] = [];
    const groups: number[][] = [];
    const gc = new GroupCommit<string, number>({
      maxItems: 100,
      maxBytes: 1_000,
      maxTurns,
      sizeOf: () => 1,
      afterTurn: (callback) => turns.push(callback),
      flush: (_key, items) => {
        groups.push(items);
      },
    });
    const endTurn = () => turns.shift()?.();
    return { gc, groups, endTurn };
  };

  it("flushes a lone item after one idle turn", () => {
    const { gc, groups, endTurn } = manual();
    gc.add("s", 1);
    endTurn(); // the turn of the add
    expect(groups).toEqual([]);
    endTurn(); // a turn without a new item
    expect(groups).toEqual([[1]]);
  });

  it("coalesces one item per turn into one group, at most maxTurns turns old", () => {
    const { gc, groups, endTurn } = manual();
    for (let i = 1; i <= 8; i++) {
      gc.add("s", i);
      endTurn();
    }
    endTurn();
    expect(groups).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it("with maxTurns 0, flushes at the end of the turn of the first add", () => {
    const { gc, groups, endTurn } = manual(0);
    gc.add("s", 1);
    gc.add("s", 2);
    endTurn();
    expect(groups).toEqual([[1, 2]]);
  });

  it("flushAll hands every pending item over now; clear removes them unflushed", () => {
    const { gc, groups, endTurn } = manual();
    gc.add("a", 1);
    gc.add("b", 2);
    gc.flushAll();
    expect(groups).toEqual([[1], [2]]);
    gc.add("a", 3);
    gc.add("b", 4);
    expect(gc.clear()).toEqual([3, 4]);
    expect(gc.pending).toBe(0);
    endTurn();
    endTurn();
    expect(groups).toEqual([[1], [2]]);
  });

  it("flushAll on a key with a flush in flight sends its items as soon as it settles", async () => {
    const groups: number[][] = [];
    let settle = () => {};
    const gc = new GroupCommit<string, number>({
      maxItems: 100,
      maxBytes: 1_000,
      maxTurns: 3,
      sizeOf: () => 1,
      afterTurn: () => undefined, // no turn ever ends: only flushAll sends
      flush: (_key, items) => {
        groups.push(items);
        return new Promise<void>((resolve) => {
          settle = resolve;
        });
      },
    });
    gc.add("s", 1);
    gc.flushAll();
    gc.add("s", 2);
    gc.flushAll();
    expect(groups).toEqual([[1]]);
    settle();
    await Promise.resolve();
    await Promise.resolve();
    expect(groups).toEqual([[1], [2]]);
  });

  it("rejects bounds that are not positive integers (maxTurns: non-negative)", () => {
    for (const bad of [{ maxItems: 0 }, { maxBytes: 1.5 }, { maxTurns: -1 }]) {
      expect(
        () =>
          new GroupCommit({
            maxItems: 1,
            maxBytes: 1,
            maxTurns: 1,
            sizeOf: () => 1,
            flush: () => undefined,
            ...bad,
          }),
      ).toThrowError(expect.toSatisfy((e) => isAssuredError(e, "INVALID_ARGUMENT")));
    }
  });
});
