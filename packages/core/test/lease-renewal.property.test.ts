import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMemoryBackend, encode, isAssuredError, MemoryDedupStore } from "../src/index.js";
import { Deduplicator, type DedupOutcome, type DedupRun } from "../src/protocol-entry.js";
import type { DedupStore } from "../src/store-entry.js";
import { VirtualTime } from "./virtual-time.js";

/**
 * Property test of fenced leases (DESIGN.md §8) with an injected clock: several processes
 * (a `Deduplicator` each, one shared store) run copies of one message; handlers take random
 * times and some ignore their signal; the store answers renewals late, or fails them. After
 * every instant of virtual time: at most one run is live (running, signal not aborted), and a
 * live run still holds the store's lease (same fencing token, not expired) — so a lost lease
 * always aborted its run. At the end every run has settled, at most one response was stored,
 * and no run whose signal was aborted for a lost lease stored its response.
 */

const KEY = "k";

interface RunSpec {
  process: number;
  at: number;
  durationMs: number;
  ignoresAbort: boolean;
}

interface StoreCall {
  delayMs: number;
  replyDelayMs: number;
  fails: boolean;
}

interface Scenario {
  leaseMs: number;
  processes: number;
  runs: RunSpec[];
  calls: StoreCall[];
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  leaseMs: fc.integer({ min: 3, max: 60 }),
  processes: fc.integer({ min: 1, max: 3 }),
  runs: fc.array(
    fc.record({
      process: fc.nat(2),
      at: fc.nat(200),
      durationMs: fc.integer({ min: 0, max: 300 }),
      ignoresAbort: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  calls: fc.array(
    fc.record({
      delayMs: fc.nat(30),
      replyDelayMs: fc.nat(30),
      fails: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 40 },
  ),
});

/** A real store whose calls (renew most of all) arrive late, answer late, or fail. */
function unreliable(store: DedupStore, time: VirtualTime, calls: StoreCall[]): DedupStore {
  let next = 0;
  const delayed = async <T>(call: () => Promise<T>, canFail: boolean): Promise<T> => {
    const plan = calls[next++ % calls.length]!;
    await time.sleep(plan.delayMs);
    if (canFail && plan.fails) throw new Error("ECONNRESET");
    const answer = await call();
    await time.sleep(plan.replyDelayMs);
    return answer;
  };
  return {
    capabilities: store.capabilities,
    claim: (key, options) => delayed(() => store.claim(key, options), false),
    complete: (...args) => delayed(() => store.complete(...args), false),
    release: (...args) => store.release(...args),
    renew: (...args) => delayed(() => store.renew(...args), true),
    close: () => store.close(),
  };
}

interface Observed {
  spec: RunSpec;
  run: DedupRun;
  /** The handler settled. */
  settled: boolean;
  /** The run's outcome settled (after its response was written, for a handler that answered). */
  finished: boolean;
  /**
   * Its lease was lost while the handler ran (its signal aborted with `LEASE_LOST` by the time
   * it settled). A loss while its response is written is only this process's belief: the
   * store's token check decides whether that write lands.
   */
  lostWhileRunning: boolean;
}

async function check({ leaseMs, processes, runs, calls }: Scenario): Promise<void> {
  const time = new VirtualTime();
  const backend = createMemoryBackend();
  const dedups = Array.from({ length: processes }, () => {
    const store = new MemoryDedupStore({ clock: time.clock, backend });
    return new Deduplicator(unreliable(store, time, calls), {
      leaseMs,
      ttlMs: 1_000_000,
      timers: time.timers,
      waitForPending: false,
      maxWaitMs: 600_000,
    });
  });
  const observed: Observed[] = [];
  const outcomes: Promise<DedupOutcome | unknown>[] = [];
  const handler = (spec: RunSpec) => async (run: DedupRun) => {
    const entry: Observed = {
      spec,
      run,
      settled: false,
      finished: false,
      lostWhileRunning: false,
    };
    observed.push(entry);
    try {
      await new Promise<void>((resolve, reject) => {
        time.timers.after(spec.durationMs, resolve);
        if (!spec.ignoresAbort) {
          run.signal.addEventListener("abort", () => reject(run.signal.reason), { once: true });
        }
      });
      return { ok: true, payload: encode(spec) };
    } finally {
      entry.settled = true;
      entry.lostWhileRunning = isAssuredError(run.signal.reason, "LEASE_LOST");
    }
  };
  for (const spec of runs) {
    time.timers.after(spec.at, () => {
      const dedup = dedups[spec.process % processes]!;
      const outcome = dedup.run(KEY, "f", handler(spec));
      const finish = () => {
        // This run's entry (its handler adds it once its claim is answered), if it ran.
        const mine = observed.find((o) => o.spec === spec);
        if (mine !== undefined) mine.finished = true;
      };
      outcomes.push(
        outcome.then(finish, finish).then(() => outcome.catch((error: unknown) => error)),
      );
    });
  }
  await time.run(100_000, (now) => {
    // Live: running its handler, or writing its response, with its lease not known lost. A
    // response written slower than the lease is still covered by it (renewed until written):
    // no copy may take the key over meanwhile and run the handler a second time.
    const live = observed.filter((o) => !o.finished && !o.run.signal.aborted);
    expect(live.length).toBeLessThanOrEqual(1);
    const entry = backend.claims.get(KEY);
    for (const o of live) {
      if (o.settled && entry?.state === "done") continue; // its response landed, its answer not yet
      expect(entry).toMatchObject({ state: "leased", fencingToken: o.run.fencingToken });
      expect((entry as { leaseExpiresAt: number }).leaseExpiresAt).toBeGreaterThan(now);
    }
  });
  const settledOutcomes = await Promise.all(outcomes);
  expect(observed.every((o) => o.settled)).toBe(true);
  const fresh = settledOutcomes.filter(
    (o): o is DedupOutcome => !(o instanceof Error) && !(o as DedupOutcome).duplicate,
  );
  expect(fresh.filter((o) => o.stored).length).toBeLessThanOrEqual(1);
  for (const o of observed) {
    if (o.lostWhileRunning) {
      expect(
        fresh.some((f) => f.stored && f.response.payload.join() === encode(o.spec).join()),
      ).toBe(false);
    }
  }
  // Fencing tokens of successive claims strictly increase.
  const tokens = observed.map((o) => o.run.fencingToken);
  expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
  expect(new Set(tokens).size).toBe(tokens.length);
}

/** A store whose completes land `writeMs` after they were issued (a busy or restarting store). */
function slowWrites(
  store: DedupStore,
  time: VirtualTime,
  writeMs: number,
  calls: { renew: number; release: number },
  renewReplyMs = 0,
): DedupStore {
  return {
    capabilities: store.capabilities,
    claim: (...args) => store.claim(...args),
    complete: async (...args) => {
      await time.sleep(writeMs);
      return store.complete(...args);
    },
    release: (...args) => {
      calls.release++;
      return store.release(...args);
    },
    renew: async (...args) => {
      calls.renew++;
      const renewed = await store.renew(...args);
      await time.sleep(renewReplyMs);
      return renewed;
    },
    close: () => store.close(),
  };
}

describe("fenced leases: renewal scheduling (DESIGN.md §8)", () => {
  it("G9: never two live runs of one key; a lost lease always aborts its run and stores nothing", async () => {
    await fc.assert(fc.asyncProperty(scenario, check), { numRuns: 150 });
  });

  it("G9: a handler three times longer than its lease, with renewals answered, runs once and stores", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const dedup = new Deduplicator(store, { leaseMs: 1_000, ttlMs: 60_000, timers: time.timers });
    let runs = 0;
    let aborted = false;
    const slow = async ({ signal }: DedupRun) => {
      runs++;
      await time.sleep(3_000);
      aborted = signal.aborted;
      return { ok: true, payload: encode("done") };
    };
    const first = dedup.run(KEY, "f", slow);
    const results: unknown[] = [];
    // Copies arriving through the store (another process) while it runs find it pending.
    time.timers.after(1_500, () => {
      void store.claim(KEY, { leaseMs: 1_000, fingerprint: "f" }).then((c) => results.push(c));
    });
    await time.run(10_000);
    expect(await first).toMatchObject({ duplicate: false, stored: true });
    expect(runs).toBe(1);
    expect(aborted).toBe(false);
    expect(results).toEqual([{ status: "pending", leaseExpiresAt: expect.any(Number) }]);
  });

  it("G9: a lease lost while the response is written releases nothing: the write still lands", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const calls = { renew: 0, release: 0 };
    // Renewals answer two leases late: this process counts the lease as lost while the write
    // (three leases) is on its way, though the store still holds it for the run.
    const slow = slowWrites(store, time, 3_000, calls, 2_000);
    const dedup = new Deduplicator(slow, { leaseMs: 1_000, ttlMs: 60_000, timers: time.timers });
    // The handler answers half a lease in; the lease is counted lost at its end, mid-write.
    const outcome = dedup.run(KEY, "f", async () => {
      await time.sleep(500);
      return { ok: true, payload: encode("once") };
    });
    await time.run(60_000);
    expect(await outcome).toMatchObject({ duplicate: false, stored: true });
    expect(calls.release).toBe(0);
    expect((await store.claim(KEY, { leaseMs: 1_000, fingerprint: "f" })).status).toBe("done");
  });

  it("G9: a write that never answers stops renewing after one more lease: the key can be taken over", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const calls = { renew: 0, release: 0 };
    const hung: DedupStore = {
      ...slowWrites(store, time, 0, calls),
      capabilities: store.capabilities,
      complete: () => new Promise<boolean>(() => undefined),
    };
    const dedup = new Deduplicator(hung, { leaseMs: 1_000, ttlMs: 60_000, timers: time.timers });
    void dedup.run(KEY, "f", async () => ({ ok: true, payload: encode("lost") }));
    time.timers.after(10_000, () => undefined); // time goes on after the last renewal
    await time.run(60_000);
    // Renewed for one more lease after the answer (every third of it), then no more.
    expect(calls.renew).toBeLessThanOrEqual(4);
    expect((await store.claim(KEY, { leaseMs: 1_000, fingerprint: "f" })).status).toBe("claimed");
  });

  it("a throwing onHandled still stops the renewals once the write answered", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    const calls = { renew: 0, release: 0 };
    const dedup = new Deduplicator(slowWrites(store, time, 2_500, calls), {
      leaseMs: 1_000,
      ttlMs: 60_000,
      timers: time.timers,
    });
    const outcome = dedup
      .run(KEY, "f", async () => ({ ok: true, payload: encode(1) }), {
        onHandled: () => {
          throw new Error("caller bug");
        },
      })
      .catch((error: unknown) => error);
    await time.run(60_000);
    expect(await outcome).toMatchObject({ message: "caller bug" });
    const renewsAfterWrite = calls.renew;
    await time.run(120_000);
    expect(calls.renew).toBe(renewsAfterWrite);
    expect((await store.claim(KEY, { leaseMs: 1_000, fingerprint: "f" })).status).toBe("done");
  });

  it("G9: a response whose write outlasts the lease keeps its lease until written: a copy meanwhile waits, the handler runs once", async () => {
    const time = new VirtualTime();
    const store = new MemoryDedupStore({ clock: time.clock });
    // A busy or restarting store: every complete lands 1.8 s after it was issued (renewals go on
    // for one more lease after the handler answered, so the lease now ends 2 s after it).
    const slowWrites: DedupStore = {
      capabilities: store.capabilities,
      claim: (...args) => store.claim(...args),
      complete: async (...args) => {
        await time.sleep(1_800);
        return store.complete(...args);
      },
      release: (...args) => store.release(...args),
      renew: (...args) => store.renew(...args),
      close: () => store.close(),
    };
    const options = { leaseMs: 1_000, ttlMs: 60_000, timers: time.timers };
    const here = new Deduplicator(slowWrites, options);
    const elsewhere = new Deduplicator(store, { ...options, maxWaitMs: 60_000 });
    let runs = 0;
    const handler = async () => {
      runs++;
      return { ok: true, payload: encode(runs) };
    };
    const first = here.run(KEY, "f", handler);
    // A copy on another process arrives 1.5 s into the write (past the lease it had when its
    // handler answered): it must wait for the write, then get its answer.
    let copy: Promise<DedupOutcome> | undefined;
    time.timers.after(1_500, () => {
      copy = elsewhere.run(KEY, "f", handler);
    });
    await time.run(60_000);
    expect(await first).toMatchObject({ duplicate: false, stored: true });
    expect(await copy).toMatchObject({ duplicate: true });
    expect(runs).toBe(1);
  });
});
