import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RedisEventStore, type RedisEventStoreOptions } from "../src/index.js";
import { redisUrl, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix, options: Partial<RedisEventStoreOptions> = {}) =>
    new RedisEventStore({ redis: redisUrl(), keyPrefix, ...options }),
);

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
    this.trimByAge(now);
    return results;
  }

  earliest(): number {
    return this.records[0]?.offset ?? this.head + 1;
  }
}

const step = fc.record({
  advanceMs: fc.constantFrom(0, 0, 300, 700, 1_200),
  ids: fc.array(fc.constantFrom("a", "b", "c", "d", "e"), { minLength: 1, maxLength: 3 }),
});

describe("trimmed ids on RedisEventStore (property)", () => {
  it("holds an id exactly while its event is retained, by length and by age, with no read in between", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        let now = 1_000_000;
        const store = stores.open({
          clock: () => now,
          retention: { maxLength: MAX_LENGTH, maxAgeMs: MAX_AGE_MS },
        });
        const stream = `s-${Math.random()}`;
        const model = new Model();
        for (const { advanceMs, ids } of steps) {
          now += advanceMs;
          const results = await store.append(
            stream,
            ids.map((id) => ({ id, name: "e", payload: new Uint8Array([1]) })),
          );
          expect(results.map((r) => [r.offset, r.duplicate])).toEqual(model.append(ids, now));
        }
        const page = await store.read(stream, { after: 0, limit: 100 });
        expect(page).toMatchObject({ head: model.head, earliest: model.earliest() });
        expect(page.records.map((r) => [r.offset, r.id])).toEqual(
          model.records.map((r) => [r.offset, r.id]),
        );
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
