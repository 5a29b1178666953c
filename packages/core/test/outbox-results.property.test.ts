import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { memoryStorage } from "../src/client-storage.js";
import { SessionStore } from "../src/outbox-session-store.js";
import { SessionWriter } from "../src/outbox-writer.js";

/** A step: settle an id (new or seen) at a time, merge another session's results, or flush. */
type Step =
  | { kind: "settle"; id: number; at: number }
  | { kind: "merge"; entries: Array<[number, number]> }
  | { kind: "flush" };

const id = fc.nat({ max: 12 });
const at = fc.integer({ min: 0, max: 200 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("settle" as const), id, at }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("merge" as const),
      entries: fc.array(fc.tuple(id, at), { maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant<Step>({ kind: "flush" }) },
);

describe("SessionWriter: the results a session record lists", () => {
  it("are the newest maxResults within resultTtlMs, oldest first, one per id; a settle replaces, a merge does not (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 60 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 20, max: 400 }),
        async (steps, maxResults, resultTtlMs) => {
          const storage = memoryStorage();
          const store = new SessionStore(storage, "t:");
          const writer = new SessionWriter({
            store,
            sid: "s",
            maxResultBytes: 1024,
            maxResults,
            resultTtlMs,
            report: () => {},
            onStored: () => {},
          });
          // The model: each id's time (a settle moves it last, a merge only adds), in list order.
          let model: Array<[string, number]> = [];
          let now = 0;
          const settled = new Set<string>();
          const prune = () => {
            model = model.filter(([, t]) => now - t <= resultTtlMs);
            model = model.slice(Math.max(0, model.length - maxResults));
          };
          for (const s of steps) {
            if (s.kind === "settle") {
              now = Math.max(now, s.at);
              const key = `m${s.id}`;
              settled.add(key);
              model = model.filter(([k]) => k !== key);
              model.push([key, s.at]);
              model = [...model].sort((a, b) => a[1] - b[1]);
              const payload = new Uint8Array([1]);
              writer.settle(
                { id: key, seq: 1, name: "n", finishedAt: s.at, ok: true, payload },
                s.at,
              );
            } else if (s.kind === "merge") {
              now = Math.max(now, ...s.entries.map(([, t]) => t));
              const entries = s.entries.map(([i, t]): [string, number] => [`m${i}`, t]);
              for (const [key, t] of entries) {
                if (!model.some(([k]) => k === key)) model.push([key, t]);
              }
              model = [...model].sort((a, b) => a[1] - b[1]);
              writer.mergeResults(entries, now);
            } else {
              await writer.flush();
              prune();
              const raw = await storage.get(store.sessionKey("s"));
              const listed =
                raw === null ? [] : (JSON.parse(raw).results as Array<[string, number]>);
              expect(listed.map(([k, t]) => `${k}@${t}`).sort()).toEqual(
                model.map(([k, t]) => `${k}@${t}`).sort(),
              );
              // Oldest first.
              for (let i = 1; i < listed.length; i++) {
                expect(listed[i]![1]).toBeGreaterThanOrEqual(listed[i - 1]![1]);
              }
              // A listed result settled here has its value stored (a merged one's is the other
              // session's).
              for (const [key] of listed) {
                if (settled.has(key))
                  expect(await storage.get(store.resultKey(key))).not.toBeNull();
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
