import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssuredError, isAssuredError } from "../src/index.js";
import { GroupWriter, type GroupWriterOptions } from "../src/store-entry.js";

interface Request {
  key: string;
  seq: number;
  weight: number;
}

/** Turns ended by hand: `endTurn()` runs the scheduled end-of-turn callback. */
function scripted<Result>(
  options: Omit<GroupWriterOptions<Request, Result, string>, "afterTurn" | "keyOf" | "operation">,
) {
  const turns: (() => void)[] = [];
  const writer = new GroupWriter<Request, Result, string>({
    operation: "append",
    keyOf: (request) => request.key,
    weightOf: (request) => request.weight,
    afterTurn: (callback) => turns.push(callback),
    ...options,
  });
  return { writer, endTurn: () => turns.shift()?.() };
}

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

const outcome = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe("GroupWriter", () => {
  it("writes a turn's requests per key in one call and resolves each with its own result", async () => {
    const calls: [string, number[]][] = [];
    const { writer, endTurn } = scripted<string>({
      write: (requests, key) => {
        calls.push([key, requests.map((r) => r.seq)]);
        return requests.map((r) => `${key}#${r.seq}`);
      },
      maxItems: 10,
      maxTurns: 0,
    });
    const results = [
      writer.submit({ key: "a", seq: 1, weight: 1 }),
      writer.submit({ key: "b", seq: 2, weight: 1 }),
      writer.submit({ key: "a", seq: 3, weight: 1 }),
    ];
    expect(calls).toEqual([]);
    endTurn();
    expect(calls).toEqual([
      ["a", [1, 3]],
      ["b", [2]],
    ]);
    expect(await Promise.all(results)).toEqual(["a#1", "b#2", "a#3"]);
    expect(writer.waiting).toBe(0);
  });

  it("keeps one write per key in flight; requests meanwhile go in the next, in order", async () => {
    const calls: number[][] = [];
    const settles: (() => void)[] = [];
    const { writer, endTurn } = scripted<number>({
      write: (requests) => {
        calls.push(requests.map((r) => r.seq));
        return new Promise((resolve) => settles.push(() => resolve(requests.map((r) => r.seq))));
      },
      maxItems: 10,
      maxTurns: 0,
    });
    const first = writer.submit({ key: "s", seq: 1, weight: 1 });
    endTurn();
    const later = [2, 3].map((seq) => writer.submit({ key: "s", seq, weight: 1 }));
    endTurn();
    expect(calls).toEqual([[1]]);
    settles.shift()?.();
    await ticks();
    expect(calls).toEqual([[1], [2, 3]]);
    settles.shift()?.();
    expect(await Promise.all([first, ...later])).toEqual([1, 2, 3]);
  });

  it("splits groups by maxItems and maxWeight; a heavier request goes alone", () => {
    const calls: number[][] = [];
    const { writer, endTurn } = scripted<number>({
      write: (requests) => {
        calls.push(requests.map((r) => r.seq));
        return requests.map((r) => r.seq);
      },
      maxItems: 3,
      maxWeight: 10,
      maxTurns: 0,
    });
    for (const [seq, weight] of [
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 20],
      [5, 1],
      [6, 1],
      [7, 1],
      [8, 1],
    ] as const) {
      void writer.submit({ key: "s", seq, weight });
    }
    endTurn();
    expect(calls).toEqual([[1, 2], [3], [4], [5, 6, 7], [8]]);
  });

  it("rejects every request of a failed write with the store error", async () => {
    let failure: unknown = new Error("connection reset");
    const { writer, endTurn } = scripted<number>({
      write: () => {
        throw failure;
      },
      maxItems: 10,
      maxTurns: 0,
    });
    const both = [1, 2].map((seq) => outcome(writer.submit({ key: "s", seq, weight: 1 })));
    endTurn();
    const [a, b] = await Promise.all(both);
    expect(a?.ok).toBe(false);
    expect(isAssuredError(a?.ok === false && a.error, "STORE_UNAVAILABLE")).toBe(true);
    expect((a?.ok === false && (a.error as Error).message) || "").toMatch(
      /^append failed: connection reset/,
    );
    expect(b).toEqual(a);
    // An AssuredError passes as it is; an async failure too.
    failure = new AssuredError("STORE_CLOSED", "closed");
    const closed = outcome(writer.submit({ key: "s", seq: 3, weight: 1 }));
    endTurn();
    expect(await closed).toEqual({ ok: false, error: failure });
  });

  it("rejects with STORE_CORRUPT when the write returns fewer results than requests", async () => {
    const { writer, endTurn } = scripted<number>({
      write: async () => [1],
      maxItems: 10,
      maxTurns: 0,
    });
    const both = [1, 2].map((seq) => outcome(writer.submit({ key: "s", seq, weight: 1 })));
    endTurn();
    for (const result of await Promise.all(both)) {
      expect(isAssuredError(result.ok === false && result.error, "STORE_CORRUPT")).toBe(true);
    }
  });

  it("submitTo: a receiver hears its own result or its group's error, LIMIT_EXCEEDED at once", async () => {
    let fail = false;
    const { writer, endTurn } = scripted<number>({
      write: (requests) => {
        if (fail) throw new Error("connection reset");
        return requests.map((r) => r.seq * 10);
      },
      maxItems: 10,
      maxTurns: 0,
      maxWaiting: { weight: 3, option: "maxQueuedEntries" },
    });
    const heard: string[] = [];
    const receiver = (name: string) => ({
      resolved: (result: number) => heard.push(`${name}=${result}`),
      rejected: (error: unknown) => heard.push(`${name}!${(error as AssuredError).code}`),
    });
    writer.submitTo({ key: "s", seq: 1, weight: 1 }, receiver("a"));
    writer.submitTo({ key: "s", seq: 2, weight: 1 }, receiver("b"));
    writer.submitTo({ key: "s", seq: 3, weight: 2 }, receiver("over"));
    // Refused before anything was written: synchronously.
    expect(heard).toEqual(["over!LIMIT_EXCEEDED"]);
    endTurn();
    expect(heard).toEqual(["over!LIMIT_EXCEEDED", "a=10", "b=20"]);
    fail = true;
    writer.submitTo({ key: "s", seq: 4, weight: 1 }, receiver("c"));
    endTurn();
    expect(heard.at(-1)).toBe("c!STORE_UNAVAILABLE");
    expect(writer.waiting).toBe(0);
    await writer.flush();
  });

  it("maxWaiting: LIMIT_EXCEEDED beyond the weight queued or being written, room once settled", async () => {
    let settle = () => {};
    const { writer, endTurn } = scripted<number>({
      write: (requests) =>
        new Promise((resolve) => {
          settle = () => resolve(requests.map((r) => r.seq));
        }),
      maxItems: 10,
      maxTurns: 0,
      maxWaiting: { weight: 5, option: "maxQueuedEntries" },
    });
    const first = writer.submit({ key: "s", seq: 1, weight: 4 });
    endTurn(); // now being written: still counts
    const refused = await outcome(writer.submit({ key: "s", seq: 2, weight: 2 }));
    expect(refused.ok).toBe(false);
    const error = refused.ok === false ? (refused.error as AssuredError) : undefined;
    expect(error?.code).toBe("LIMIT_EXCEEDED");
    expect(error?.message).toMatch(/maxQueuedEntries/);
    expect(writer.waiting).toBe(4);
    settle();
    expect(await first).toBe(1);
    const again = writer.submit({ key: "s", seq: 3, weight: 5 });
    endTurn();
    await ticks(); // written once the first write's settlement reached the group commit
    settle();
    expect(await again).toBe(3);
  });

  it("flush() writes now and resolves once nothing waits; abandon() rejects what is queued", async () => {
    const written: number[] = [];
    let settle = () => {};
    const { writer } = scripted<number>({
      write: (requests) => {
        written.push(...requests.map((r) => r.seq));
        return new Promise((resolve) => {
          settle = () => resolve(requests.map((r) => r.seq));
        });
      },
      maxItems: 10,
      maxTurns: 3,
    });
    const first = writer.submit({ key: "s", seq: 1, weight: 1 });
    let flushed = false;
    const flushing = writer.flush().then(() => {
      flushed = true;
    });
    expect(written).toEqual([1]);
    const queued = outcome(writer.submit({ key: "s", seq: 2, weight: 1 }));
    const abandoning = writer.abandon(new AssuredError("STORE_CLOSED", "closed"));
    expect((await queued).ok).toBe(false);
    await ticks();
    expect(flushed).toBe(false); // the write in flight still waits
    settle();
    await Promise.all([flushing, abandoning]);
    expect(await first).toBe(1);
    expect(written).toEqual([1]);
  });

  it("model: every request gets its own result, each key's writes are its requests in order", async () => {
    type Op =
      | { kind: "submit"; key: number; weight: number }
      | { kind: "turn" }
      | { kind: "settle"; key: number; fail: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("submit" as const),
        key: fc.nat(2),
        weight: fc.integer({ min: 1, max: 6 }),
      }),
      fc.record({ kind: fc.constant("turn" as const) }),
      fc.record({ kind: fc.constant("settle" as const), key: fc.nat(2), fail: fc.boolean() }),
    );
    const bounds = fc.record({
      maxItems: fc.integer({ min: 1, max: 4 }),
      maxWeight: fc.integer({ min: 1, max: 12 }),
      maxTurns: fc.integer({ min: 0, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 50 }), bounds, async (ops, b) => {
        const written = new Map<string, number[]>();
        const inFlight = new Map<string, { requests: Request[]; settle(fail: boolean): void }>();
        const { writer, endTurn } = scripted<number>({
          ...b,
          write: (requests, key) => {
            expect(inFlight.has(key)).toBe(false);
            if (requests.length > 1) {
              expect(requests.length).toBeLessThanOrEqual(b.maxItems);
              expect(requests.reduce((n, r) => n + r.weight, 0)).toBeLessThanOrEqual(b.maxWeight);
            }
            written.set(key, [...(written.get(key) ?? []), ...requests.map((r) => r.seq)]);
            return new Promise<number[]>((resolve, reject) => {
              inFlight.set(key, {
                requests,
                settle: (fail) =>
                  fail ? reject(new Error("down")) : resolve(requests.map((r) => r.seq * 10)),
              });
            });
          },
        });
        const submitted = new Map<string, number[]>();
        const outcomes: Promise<{ seq: number; ok: boolean; value?: number }>[] = [];
        const failed = new Set<number>();
        let seq = 0;
        const settle = async (key: string, fail: boolean) => {
          const flight = inFlight.get(key);
          if (flight === undefined) return;
          inFlight.delete(key);
          if (fail) for (const r of flight.requests) failed.add(r.seq);
          flight.settle(fail);
          await ticks();
        };
        for (const o of ops) {
          if (o.kind === "submit") {
            const request = { key: `k${o.key}`, seq: seq++, weight: o.weight };
            submitted.set(request.key, [...(submitted.get(request.key) ?? []), request.seq]);
            outcomes.push(
              writer.submit(request).then(
                (value) => ({ seq: request.seq, ok: true, value }),
                () => ({ seq: request.seq, ok: false }),
              ),
            );
          } else if (o.kind === "turn") {
            endTurn();
            await ticks();
          } else {
            await settle(`k${o.key}`, o.fail);
          }
        }
        const done = writer.flush();
        for (let round = 0; round < 1000 && inFlight.size > 0; round++) {
          for (const key of [...inFlight.keys()]) await settle(key, round % 3 === 0);
        }
        await done;
        expect(writer.waiting).toBe(0);
        expect(written).toEqual(submitted);
        for (const result of await Promise.all(outcomes)) {
          expect(result).toEqual(
            failed.has(result.seq)
              ? { seq: result.seq, ok: false }
              : { seq: result.seq, ok: true, value: result.seq * 10 },
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("GroupWriter receivers that throw", () => {
  it("reject a receiver whose resolved throws, and still settle the rest of its group", async () => {
    const turns: (() => void)[] = [];
    const writer = new GroupWriter<number, number>({
      write: (requests) => requests.map((r) => r * 2),
      operation: "append",
      maxItems: 10,
      maxTurns: 0,
      afterTurn: (callback) => turns.push(callback),
    });
    const heard: string[] = [];
    writer.submitTo(1, {
      resolved: () => {
        throw new Error("receiver broke");
      },
      rejected: (error) => heard.push(`1!${(error as Error).message}`),
    });
    writer.submitTo(2, {
      resolved: (result) => heard.push(`2=${result}`),
      rejected: () => heard.push("2!"),
    });
    turns.shift()?.();
    expect(heard).toEqual(["1!receiver broke", "2=4"]);
    expect(writer.waiting).toBe(0);
    await writer.flush();
  });
});
