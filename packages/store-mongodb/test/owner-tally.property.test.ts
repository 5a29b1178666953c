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
function backend(model: Model, s: fc.Scheduler): OwnerTallyBackend {
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
  const held = await tally.held(batch.owner, keys.length, quota, quota + keys.length + 1, 0);
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
        async (s, batches, quota, maxOwners) => {
          const model = new Model();
          let ids = 0;
          const tallies = [0, 1, 2].map(
            () =>
              new OwnerTally(
                backend(model, s),
                () => `c${ids++}`,
                () => 0,
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
            if (asked <= quota) expect(refused).toBe(0);
          }
        },
      ),
      { numRuns: 4000 },
    );
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
