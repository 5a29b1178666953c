import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryDedupStore } from "../src/index.js";
import { Deduplicator } from "../src/protocol-entry.js";
import type { StoredResponse } from "../src/store-entry.js";

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** One message copy: claimed ahead now, then run after some turns, or discarded. */
const copy = fc.record({
  key: fc.constantFrom("a", "b", "c"),
  /** Turns between the claim made ahead and the run (0: before its batch is even written). */
  waitTurns: fc.nat({ max: 4 }),
  /** Turns the handler takes. */
  handlerTurns: fc.nat({ max: 3 }),
  discard: fc.boolean(),
});

describe("claims made ahead: every path runs each key's handler once", () => {
  it("any mix of copies, runs before or after their claim was answered, discards, slow handlers", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(copy, { minLength: 1, maxLength: 12 }), async (copies) => {
        const memory = new MemoryDedupStore();
        const dedup = new Deduplicator(memory, { leaseMs: 60_000, ttlMs: 60_000 });
        const runsByKey = new Map<string, number>();
        const outcomes: Promise<{ key: string; duplicate: boolean; payload: number[] }>[] = [];
        for (const c of copies) {
          const ahead = dedup.claimAhead(c.key, "fp")!;
          if (c.discard) {
            ahead.discard();
            continue;
          }
          outcomes.push(
            (async () => {
              for (let i = 0; i < c.waitTurns; i++) await turn();
              const outcome = await dedup.run(
                c.key,
                "fp",
                async (): Promise<StoredResponse> => {
                  const n = (runsByKey.get(c.key) ?? 0) + 1;
                  runsByKey.set(c.key, n);
                  for (let i = 0; i < c.handlerTurns; i++) await turn();
                  return { ok: true, payload: new Uint8Array([c.key.charCodeAt(0), n]) };
                },
                { ahead },
              );
              return {
                key: c.key,
                duplicate: outcome.duplicate,
                payload: [...outcome.response.payload],
              };
            })(),
          );
        }
        const results = await Promise.all(outcomes);
        for (const key of new Set(results.map((r) => r.key))) {
          const ofKey = results.filter((r) => r.key === key);
          // Run once; one fresh outcome, the others duplicates with the same answer.
          expect(runsByKey.get(key)).toBe(1);
          expect(ofKey.filter((r) => !r.duplicate)).toHaveLength(1);
          for (const r of ofKey) expect(r.payload).toEqual([key.charCodeAt(0), 1]);
          // Stored and free of leases: a later copy is answered from the store.
          expect((await memory.claim(key, { leaseMs: 1_000, fingerprint: "fp" })).status).toBe(
            "done",
          );
        }
        // A discarded copy with no run leaves its key claimable at once.
        for (const key of new Set(copies.map((c) => c.key))) {
          if (results.some((r) => r.key === key)) continue;
          expect((await memory.claim(key, { leaseMs: 1_000, fingerprint: "fp" })).status).toBe(
            "claimed",
          );
        }
      }),
      { numRuns: 150 },
    );
  });
});
