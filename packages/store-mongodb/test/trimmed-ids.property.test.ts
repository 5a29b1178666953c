import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { MongoEventStore } from "../src/index.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const databases: string[] = [];
afterAll(async () => {
  for (const database of databases) await client().db(database).dropDatabase();
});

const MAX_LENGTH = 3;
const MAX_AGE_MS = 1_000;

/** The log as the trimmed-id rule defines it: an id is held exactly while its event is retained. */
class Model {
  records: { offset: number; id: string; time: number }[] = [];
  head = 0;

  private trimByAge(now: number): void {
    this.records = this.records.filter((r) => r.time >= now - MAX_AGE_MS);
  }

  append(ids: readonly string[], now: number): [number, boolean][] {
    this.trimByAge(now);
    const results = ids.map((id): [number, boolean] => {
      const held = this.records.find((r) => r.id === id);
      if (held !== undefined) return [held.offset, true];
      this.head += 1;
      this.records.push({ offset: this.head, id, time: now });
      return [this.head, false];
    });
    this.records = this.records.slice(-MAX_LENGTH);
    return results;
  }

  earliest(): number {
    return this.records[0]?.offset ?? this.head + 1;
  }
}

// One id per append: an id repeated by the same append whose new events push it out of
// maxLength may be answered either way (see EventStore's "Trimmed ids"); this store resolves
// it after inserting, the model before.
const step = fc.record({
  advanceMs: fc.constantFrom(0, 0, 300, 700, 1_200),
  ids: fc.array(fc.constantFrom("a", "b", "c", "d"), { minLength: 1, maxLength: 1 }),
});

const entryOf = (id: string) => ({ id, name: "e", payload: new Uint8Array([1]) });

for (const server of ["auto", "mongodb"] as const) {
  describe(`trimmed ids on MongoEventStore (server: ${server})`, () => {
    let now = 1_000_000;
    const database = isolatedDatabase("trimmed");
    databases.push(database);
    const store = new MongoEventStore({
      connection: client(),
      database,
      server,
      clock: () => now,
      retention: { maxLength: MAX_LENGTH, maxAgeMs: MAX_AGE_MS },
    });
    afterAll(() => store.close());
    let run = 0;

    it("holds an id exactly while its event is retained (property, no read in between)", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
          const stream = `s-${run++}`;
          const model = new Model();
          for (const { advanceMs, ids } of steps) {
            now += advanceMs;
            const results = await store.append(stream, ids.map(entryOf));
            expect(results.map((r) => [r.offset, r.duplicate])).toEqual(model.append(ids, now));
          }
          const page = await store.read(stream, { after: 0, limit: 100 });
          expect(page).toMatchObject({ head: model.head, earliest: model.earliest() });
          expect(page.records.map((r) => [r.offset, r.id])).toEqual(
            model.records.map((r) => [r.offset, r.id]),
          );
        }),
        { numRuns: 20 },
      );
    }, 180_000);

    it("appends a trimmed id once when 10 appends of it race", async () => {
      await store.append("race", [entryOf("a"), entryOf("b")]);
      now += 1_500;
      await store.append("race", [entryOf("c")]);
      const results = (
        await Promise.all(Array.from({ length: 10 }, () => store.append("race", [entryOf("a")])))
      ).flat();
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.offset))).toEqual(new Set([4]));
      const page = await store.read("race", { after: 0, limit: 10 });
      expect(page.records.map((r) => [r.offset, r.id])).toEqual([
        [3, "c"],
        [4, "a"],
      ]);
    }, 60_000);
  });
}
