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
          // The model: the listed entries, changed at each flush by the settles and merges
          // queued since (merged ids not listed yet are added first, then each settle moves
          // its id last), then ordered by time (ties keep that order) and pruned.
          let model: Array<[string, number]> = [];
          let merges: Array<[string, number]> = [];
          let settles: Array<[string, number]> = [];
          let now = 0;
          // Whose value a listed id's result key holds: this session's (a settle) or not.
          const own = new Map<string, boolean>();
          const apply = () => {
            for (const [key, t] of merges) {
              if (!model.some(([k]) => k === key)) {
                model.push([key, t]);
                if (!own.has(key)) own.set(key, false);
              }
            }
            for (const [key, t] of settles) {
              model = model.filter(([k]) => k !== key);
              model.push([key, t]);
              own.set(key, true);
            }
            merges = [];
            settles = [];
            model = [...model].sort((a, b) => a[1] - b[1]);
            model = model.filter(([, t]) => now - t <= resultTtlMs);
            model = model.slice(Math.max(0, model.length - maxResults));
            for (const key of own.keys()) {
              if (!model.some(([k]) => k === key)) own.delete(key);
            }
          };
          for (const s of steps) {
            if (s.kind === "settle") {
              now = Math.max(now, s.at);
              const key = `m${s.id}`;
              settles.push([key, s.at]);
              const payload = new Uint8Array([1]);
              writer.settle(
                { id: key, seq: 1, name: "n", finishedAt: s.at, ok: true, payload },
                s.at,
              );
            } else if (s.kind === "merge") {
              now = Math.max(now, ...s.entries.map(([, t]) => t));
              const entries = s.entries.map(([i, t]): [string, number] => [`m${i}`, t]);
              merges.push(...entries);
              writer.mergeResults(entries, now);
            } else {
              await writer.flush();
              apply();
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
                if (own.get(key) === true) {
                  expect(await storage.get(store.resultKey(key))).not.toBeNull();
                }
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
