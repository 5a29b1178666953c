import { memoryLocks, memoryStorage } from "@assured/core/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PositionStore } from "../src/position-store.js";

/*
 * The position store against a model: batches of saves (ordinary, or corrections from an
 * outcome that did not recover) and removals of two streams, each batch followed by a flush. A
 * save that replaces one still waiting keeps the waiting one's entry (no new entry per delivered
 * event), so the write rules must hold whatever the order: a removal removes; a save is written
 * if it replaced a removal, if it is (or was merged with) a correction — with one store, what is
 * stored is always what it wrote last —, if it moves the stored position forward within its
 * epoch, or into another epoch past offset 0; and the last position saved in a batch is the one
 * written.
 */

/** Epoch "" is a stream with no log yet (only ever at offset 0). */
const EPOCHS = ["", "E1", "E2"];

type Op =
  | { kind: "save"; stream: number; epoch: number; offset: number; correction: boolean }
  | { kind: "remove"; stream: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("save" as const),
      stream: fc.nat(1),
      epoch: fc.nat(2),
      offset: fc.nat(20),
      correction: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), stream: fc.nat(1) }) },
);

type Stored = { epoch: string; offset: number } | null;
type Pending =
  | { kind: "remove" }
  | { kind: "save"; epoch: string; offset: number; force: boolean; corrected: boolean };

// An exclusive store (the client's own storage) skips the lock and the read: same outcomes.
describe.each([
  ["shared storage", false],
  ["exclusive storage", true],
])("PositionStore (model, %s)", (_label, exclusive) => {
  it("writes what the rules say, however saves replace each other before their write", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 8 }), { maxLength: 8 }),
        async (batches) => {
          const storage = memoryStorage();
          const store = new PositionStore(storage, memoryLocks(), "p:", exclusive);
          const errors: unknown[] = [];
          const model: Stored[] = [null, null];
          for (const batch of batches) {
            const pending: (Pending | undefined)[] = [undefined, undefined];
            for (const o of batch) {
              const stream = `s${o.stream}`;
              if (o.kind === "remove") {
                store.remove(stream, (e) => errors.push(e));
                pending[o.stream] = { kind: "remove" };
                continue;
              }
              const epoch = EPOCHS[o.epoch]!;
              const offset = epoch === "" ? 0 : o.offset;
              const judged = o.correction ? [model[o.stream] ?? null] : undefined;
              store.save(stream, { epoch, offset }, (e) => errors.push(e), judged);
              const before = pending[o.stream];
              const force =
                before?.kind === "remove" ||
                (before?.kind === "save" && before.force) ||
                o.correction ||
                (before?.kind === "save" && before.corrected);
              const corrected = o.correction || (before?.kind === "save" && before.corrected);
              pending[o.stream] = { kind: "save", epoch, offset, force, corrected };
            }
            await store.flush();
            for (const i of [0, 1]) {
              const p = pending[i];
              const stored = model[i] ?? null;
              if (p === undefined) continue;
              if (p.kind === "remove") model[i] = null;
              else if (
                p.force ||
                !stored ||
                (stored.epoch === p.epoch && stored.offset < p.offset) ||
                (stored.epoch !== p.epoch && p.offset > 0)
              ) {
                model[i] = { epoch: p.epoch, offset: p.offset };
              }
            }
            for (const i of [0, 1]) {
              const text = await storage.get(`p:pos:s${i}`);
              expect(text === null ? null : JSON.parse(text)).toEqual(model[i]);
            }
          }
          expect(errors).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/*
 * Tabs sharing one storage, each with its own store, saving what they have seen of one log
 * (epoch "" before its first event, then E1) in any order and at any pace: a tab can be far
 * behind (no handler for the next event) and its saves can land after a faster tab's. A
 * fourth tab only saves late corrections: outcomes that judged a position of a log long gone
 * (epoch E0), moving to offset 0 of the log with no event yet or of E1. The stored position never
 * goes back, so a reload never delivers an event some tab handled again.
 */
describe("PositionStore (tabs)", () => {
  it("never moves the stored position back, whichever tab's save lands last", async () => {
    const save = fc.record({
      tab: fc.nat(3),
      offset: fc.nat(6),
      beforeFirstEvent: fc.boolean(),
      flush: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(save, { maxLength: 30 }), async (saves) => {
        const storage = memoryStorage();
        const locks = memoryLocks();
        const tabs = [0, 1, 2, 3].map(() => new PositionStore(storage, locks, "p:"));
        const errors: unknown[] = [];
        const reached = [0, 0, 0, 0];
        let highest = -1;
        let previous = -1;
        const check = async () => {
          const text = await storage.get("p:pos:s");
          const stored = text === null ? -1 : (JSON.parse(text) as { offset: number }).offset;
          expect(stored).toBeGreaterThanOrEqual(previous);
          previous = stored;
        };
        for (const s of saves) {
          if (s.tab === 3) {
            const judged = [{ epoch: "E0", offset: 1 + s.offset, id: "gone" }];
            const at = { epoch: s.beforeFirstEvent ? "" : "E1", offset: 0 };
            tabs[3]!.save("s", at, (e) => errors.push(e), judged);
            highest = Math.max(highest, 0);
            if (s.flush) {
              await tabs[3]!.flush();
              await check();
            }
            continue;
          }
          // Each tab goes forward at its own pace; offset 0 was taken before the first event
          // (epoch ""), or at it (E1).
          const offset = Math.max(reached[s.tab]!, s.offset);
          reached[s.tab] = offset;
          const epoch = offset === 0 && s.beforeFirstEvent ? "" : "E1";
          tabs[s.tab]!.save("s", { epoch, offset }, (e) => errors.push(e));
          highest = Math.max(highest, offset);
          if (s.flush) {
            await tabs[s.tab]!.flush();
            await check();
          }
        }
        await Promise.all(tabs.map((t) => t.flush()));
        await check();
        if (saves.length > 0) expect(previous).toBe(highest);
        expect(errors).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
