import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReadPacer } from "../src/read-pacer.js";

/** Busy for `ms` (a synchronous store's read: the event loop does nothing else meanwhile). */
function work(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** Resolves after the current turn of the event loop and the next one ran. */
function turns(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });
}

/** Counts turns of the event loop (one `setImmediate` per turn) until `stop()`. */
function turnCounter(): { readonly now: number; stop(): void } {
  let now = 0;
  let counting = true;
  const tick = () => {
    now++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get now() {
      return now;
    },
    stop() {
      counting = false;
    },
  };
}

/**
 * Requests reads in bursts (each burst within one turn), each read busy for its cost once it
 * may start; a timer-free turn counter (one `setImmediate` per turn) tells in which turn each
 * read ran. Returns the reads in the order they ran, with their turns.
 */
async function runBursts(
  pacer: ReadPacer,
  bursts: readonly (readonly number[])[],
): Promise<{ id: number; turn: number; cost: number; asked: number; waited: boolean }[]> {
  const counter = turnCounter();
  const ran: { id: number; turn: number; cost: number; asked: number; waited: boolean }[] = [];
  const all: Promise<void>[] = [];
  let id = 0;
  for (const burst of bursts) {
    for (const cost of burst) {
      const me = id++;
      const read = async () => {
        const asked = counter.now;
        const wait = pacer.turn();
        if (wait !== undefined) await wait;
        ran.push({ id: me, turn: counter.now, cost, asked, waited: wait !== undefined });
        work(cost);
      };
      all.push(read());
    }
    await turns(1);
  }
  await Promise.all(all);
  counter.stop();
  return ran;
}

describe("ReadPacer", () => {
  it("spreads a storm of synchronous reads over turns, in order, so other work runs between", async () => {
    // 30 reads of 5 ms requested in one turn: 150 ms of work. Unpaced, the loop would not turn
    // for 150 ms; with a 10 ms slice a turn runs about 15 ms of it (a little more when the
    // burst and a slice share one).
    const pacer = new ReadPacer(10);
    let last = performance.now();
    let longest = 0;
    let ticking = true;
    const tick = () => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const ran = await runBursts(pacer, [Array.from({ length: 30 }, () => 5)]);
    ticking = false;
    expect(ran.map((r) => r.id)).toEqual(ran.map((_, i) => i));
    expect(new Set(ran.map((r) => r.turn)).size).toBeGreaterThanOrEqual(5);
    expect(longest).toBeLessThan(75);
    expect(pacer.waiting).toBe(0);
  });

  it("starts reads at once while a turn's slice has time left (no wait, no promise)", () => {
    const pacer = new ReadPacer(10);
    expect(pacer.turn()).toBeUndefined();
    expect(pacer.turn()).toBeUndefined();
    work(11);
    const later = pacer.turn();
    expect(later).toBeInstanceOf(Promise);
    // Once one waits, later reads wait behind it even within a slice.
    expect(pacer.waiting).toBe(1);
    return later;
  });

  it("counts the work a released waiter hands to a later microtask or a tick (a middleware's next())", async () => {
    // Engine.IO runs a handshake a few microtasks after its middleware's next(); Socket.IO runs a
    // namespace connect in a tick after it. Each is 4 ms here, the slice 6 ms: at most two run
    // per turn. Counting only the waiter's own continuation, all ten ran in one turn.
    for (const handOver of ["microtask", "tick"] as const) {
      const pacer = new ReadPacer(6);
      work(7); // the slice of this turn is spent: every request below waits
      expect(pacer.turn()).toBeUndefined(); // the first of the turn always starts
      work(7);
      const counter = turnCounter();
      const ranIn: number[] = [];
      const handed = (next: () => void) =>
        handOver === "tick"
          ? process.nextTick(next)
          : Promise.resolve()
              .then(() => undefined)
              .then(next);
      await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise<void>((done) => {
              void pacer.turn()!.then(() =>
                handed(() => {
                  ranIn.push(counter.now);
                  work(4);
                  done();
                }),
              );
            }),
        ),
      );
      counter.stop();
      const perTurn = new Map<number, number>();
      for (const t of ranIn) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
      expect(Math.max(...perTurn.values()), handOver).toBeLessThanOrEqual(2);
      expect(ranIn).toHaveLength(10);
    }
  });

  it("searched: bursts of reads of random costs each run once, in request order, and none is left waiting", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 8 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (bursts) => {
          const sliceMs = 6;
          const pacer = new ReadPacer(sliceMs);
          const ran = await runBursts(pacer, bursts);
          const total = bursts.flat().length;
          expect(ran.map((r) => r.id)).toEqual(Array.from({ length: total }, (_, i) => i));
          // A read that did not wait ran in the turn it asked in; one that waited, later.
          for (const r of ran) {
            if (r.waited) expect(r.turn).toBeGreaterThan(r.asked);
            else expect(r.turn).toBe(r.asked);
          }
          expect(pacer.waiting).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });
});
