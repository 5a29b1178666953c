import { memoryLocks, memoryStorage } from "@assured/core/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PositionStore } from "../src/position-store.js";

/*
 * The position store against a model: batches of saves (plain or `rewind`) and removals of two
 * streams, each batch followed by a flush. A save that replaces one still waiting keeps the
 * waiting one's entry (no new entry per delivered event), so the write rules must hold whatever
 * the order: a removal removes; a save is written if it is forced (a rewind, or it replaced a
 * removal or a forced save) or moves the stored position forward within its epoch (or starts
 * another epoch); and the last position saved in a batch is the one written.
 */

type Op =
  | { kind: "save"; stream: number; epoch: number; offset: number; rewind: boolean }
  | { kind: "remove"; stream: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("save" as const),
      stream: fc.nat(1),
      epoch: fc.nat(1),
      offset: fc.nat(20),
      rewind: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), stream: fc.nat(1) }) },
);

type Stored = { epoch: string; offset: number } | null;
type Pending = { kind: "remove" } | { kind: "save"; epoch: string; offset: number; force: boolean };

describe("PositionStore (model)", () => {
  it("writes what the rules say, however saves replace each other before their write", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 8 }), { maxLength: 8 }),
        async (batches) => {
          const storage = memoryStorage();
          const store = new PositionStore(storage, memoryLocks(), "p:");
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
              const epoch = `E${o.epoch}`;
              store.save(stream, { epoch, offset: o.offset }, (e) => errors.push(e), o.rewind);
              const before = pending[o.stream];
              const force =
                o.rewind || before?.kind === "remove" || (before?.kind === "save" && before.force);
              pending[o.stream] = { kind: "save", epoch, offset: o.offset, force };
            }
            await store.flush();
            for (const i of [0, 1]) {
              const p = pending[i];
              const stored = model[i] ?? null;
              if (p === undefined) continue;
              if (p.kind === "remove") model[i] = null;
              else if (p.force || !stored || stored.epoch !== p.epoch || stored.offset < p.offset) {
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
