import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OwnerTally, type OwnerTallyBackend } from "../src/owner-tally.js";

/** The shared store the instances' tallies read and write: dedup documents and counters. */
class Model {
  readonly docs = new Map<string, { owner: string; live: boolean }>();
  readonly counters = new Map<string, { owner: string; claims: number }>();

  live(owner: string): number {
    let n = 0;
    for (const doc of this.docs.values()) if (doc.owner === owner && doc.live) n++;
    return n;
  }
}

/**
 * A backend on `model` whose every call waits for the scheduler twice: before its effect (the
 * request in flight) and after (the reply in flight), so calls of all instances interleave in
 * any order the scheduler picks.
 */
function backend(model: Model, s: fc.Scheduler, failures: boolean[] = []): OwnerTallyBackend {
  const step = async <T>(effect: () => T): Promise<T> => {
    await s.schedule(Promise.resolve());
    const value = effect();
    await s.schedule(Promise.resolve());
    return value;
  };
  const count = (owner: string, limit: number, liveOnly: boolean) => {
    let n = 0;
    for (const doc of model.docs.values()) {
      if (doc.owner === owner && (doc.live || !liveOnly)) n++;
    }
    return Math.min(n, limit);
  };
  return {
    write: (id, owner, claims) =>
      step(() => {
        // A failed write: the store did not take it (it never lands later here).
        if (failures.shift() === true) throw new Error("the store is down");
        const known = model.counters.get(id);
        // Only its instance writes a counter, one write at a time, with growing values.
        if (known !== undefined && known.claims > claims) throw new Error("a counter shrank");
        model.counters.set(id, { owner, claims });
      }),
    read: (owner) =>
      step(
        () =>
          new Map(
            [...model.counters]
              .filter(([, c]) => c.owner === owner)
              .map(([id, c]) => [id, c.claims]),
          ),
      ),
    countAll: (owner, limit) => step(() => count(owner, limit, false)),
    countLive: (owner, _now, limit) => step(() => count(owner, limit, true)),
  };
}

/** A batch of claims one instance makes for one owner, and what happens to its claims after. */
const batchArb = fc.record({
  instance: fc.nat({ max: 2 }),
  owner: fc.constantFrom("alice", "alice", "bob"),
  size: fc.integer({ min: 1, max: 3 }),
  /** Claims of this batch that end (released or expired) once it answered. */
  ended: fc.nat({ max: 4 }),
});

/**
 * What the store does with a batch (`insertClaims`): write the documents, bound the owner's
 * documents, keep claims in order while they fit, withdraw the others; ended claims then stop
 * counting as live (as released or expired ones do).
 */
async function claimBatch(
  model: Model,
  s: fc.Scheduler,
  tally: OwnerTally,
  batch: { owner: string; ended: number },
  keys: string[],
  quota: number,
): Promise<{ kept: number; refused: number }> {
  await s.schedule(Promise.resolve());
  for (const key of keys) model.docs.set(key, { owner: batch.owner, live: true });
  let held: number;
  try {
    held = await tally.held(batch.owner, keys.length, quota, quota + keys.length + 1, 0);
  } catch {
    // The claims failed (their counter write did): their documents stay until their leases
    // end, which the property lets pass before it checks.
    for (const key of keys) model.docs.get(key)!.live = false;
    return { kept: 0, refused: keys.length };
  }
  let kept = held - keys.length;
  let refused = 0;
  for (const key of keys) {
    if (kept + 1 <= quota) {
      kept++;
      continue;
    }
    await s.schedule(Promise.resolve());
    model.docs.delete(key);
    refused++;
  }
  for (const key of keys.slice(0, batch.ended)) {
    const doc = model.docs.get(key);
    if (doc !== undefined) doc.live = false;
  }
  return { kept: keys.length - refused, refused };
}

describe("OwnerTally: the quota under interleaved claims of several instances", () => {
  it("never leaves an owner above its quota, and refuses nothing while all claims fit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(batchArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(1, 2, 10_000),
        fc.oneof(
          fc.constant([] as boolean[]),
          fc.array(
            fc.nat({ max: 19 }).map((n) => n === 0),
            { maxLength: 20 },
          ),
        ),
        fc.constantFrom(0, 700, 1_000_000),
        async (s, batches, quota, maxOwners, failures, tick) => {
          const model = new Model();
          let ids = 0;
          const anyFailure = failures.includes(true);
          // A monotonic clock that moves `tick` ms at every reading: baselines age out and tight
          // owners are tried again.
          let clock = 0;
          const tallies = [0, 1, 2].map(
            () =>
              new OwnerTally(
                backend(model, s, failures),
                () => `c${ids++}`,
                () => {
                  clock += tick;
                  return clock;
                },
                maxOwners,
              ),
          );
          let n = 0;
          const runs = batches.map((batch) => {
            const keys = Array.from({ length: batch.size }, () => `k${n++}`);
            return claimBatch(model, s, tallies[batch.instance]!, batch, keys, quota);
          });
          const answers = await s.waitFor(Promise.all(runs));
          for (const owner of ["alice", "bob"]) {
            expect(model.live(owner)).toBeLessThanOrEqual(quota);
            const asked = batches
              .filter((b) => b.owner === owner)
              .reduce((sum, b) => sum + b.size, 0);
            const refused = answers
              .filter((_, i) => batches[i]!.owner === owner)
              .reduce((sum, a) => sum + a.refused, 0);
            if (asked <= quota && !anyFailure) expect(refused).toBe(0);
          }
        },
      ),
      { numRuns: 4000 },
    );
  });

  it("counts this batch's own claims in the bound (a batch larger than what the baseline saw)", async () => {
    const model = new Model();
    // No interleaving: each call takes effect at once.
    const s = { schedule: <T>(p: Promise<T>) => p } as unknown as fc.Scheduler;
    let ids = 0;
    const tally = new OwnerTally(backend(model, s), () => `c${ids++}`);
    const alice = { owner: "alice", ended: 0 };
    expect(await claimBatch(model, s, tally, alice, ["a"], 3)).toEqual({ kept: 1, refused: 0 });
    // A bound without the batch's own three claims would admit them all: four documents.
    expect(await claimBatch(model, s, tally, alice, ["b", "c", "d"], 3)).toEqual({
      kept: 2,
      refused: 1,
    });
    expect(model.live("alice")).toBe(3);
  });

  it("drops the least recently used owner's counter and baseline past maxOwners", async () => {
    const model = new Model();
    const s = fc.sample(fc.scheduler(), { numRuns: 1, seed: 1 })[0]!;
    let ids = 0;
    const tally = new OwnerTally(
      backend(model, s),
      () => `c${ids++}`,
      () => 0,
      1,
    );
    for (const owner of ["alice", "bob", "alice"]) {
      model.docs.set(`${owner}${ids}`, { owner, live: true });
      await s.waitFor(tally.held(owner, 1, 10, 12, 0));
    }
    expect(tally.baselineCount).toBe(1);
    // alice's first counter was forgotten: her claims went on in a new one.
    expect([...model.counters].filter(([, c]) => c.owner === "alice").length).toBe(2);
  });
});
