import { randomBytes } from "node:crypto";
import type { EventRecord } from "@assured/core";
import type { EventStore } from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();

/** What `readPacked` must give: `read`'s page packed, cut after `maxBytes` (the first always). */
async function expectedPage(store: EventStore, after: number, limit: number, maxBytes: number) {
  const page = await store.read("s", { after, limit });
  const fitting: EventRecord[] = [];
  let total = 0;
  for (const record of page.records) {
    const size = record.payload.byteLength;
    if (fitting.length > 0 && total + size > maxBytes) break;
    fitting.push(record);
    total += size;
  }
  return {
    epoch: page.epoch,
    head: page.head,
    earliest: page.earliest,
    records: fitting.map((r) => [r.offset, r.id, r.name, r.payload.byteLength, r.time]),
    payloads: Buffer.concat(fitting.map((r) => r.payload)).toString("hex"),
  };
}

describe("PostgresEventStore.readPacked", () => {
  it("gives read's page cut after maxBytes with empty, compressed and out-of-line payloads, with and without retention", async () => {
    const schema = stores.schema("packed");
    const store = stores.events(schema);
    // The same tables read with a length bound: earliest comes from the statement, not a trim.
    const retained = stores.events(schema, { retention: { maxLength: 25 } });
    // Empty, small, compressible (stored compressed inline: octet_length is the raw size) and
    // random beyond the TOAST threshold (stored out of line).
    const sizes = [0, 3, 0, 0, 120, 50_000, 0, 6_000, 1, 2_100, 0, 40_000, 7, 0, 9_000];
    const payload = (size: number, i: number) =>
      i % 2 === 0 ? randomBytes(size) : new Uint8Array(size).fill(i);
    await store.append(
      "s",
      Array.from({ length: 45 }, (_, i) => ({
        name: `e${i}`,
        payload: payload(sizes[i % 15]!, i),
      })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: 0, max: 47 }),
        fc.integer({ min: 1, max: 50 }),
        // A bound of its own, or one at the running total of the page's first `records` (± 1).
        fc.oneof(
          fc.integer({ min: 1, max: 120_000 }),
          fc.record({ records: fc.nat(50), delta: fc.integer({ min: -1, max: 1 }) }),
        ),
        async (withRetention, after, limit, bound) => {
          const reader = withRetention ? retained : store;
          let maxBytes = bound as number;
          if (typeof bound !== "number") {
            const { records } = await reader.read("s", { after, limit });
            const total = records
              .slice(0, bound.records)
              .reduce((sum, r) => sum + r.payload.byteLength, 0);
            maxBytes = Math.max(1, total + bound.delta);
          }
          const got = await reader.readPacked("s", { after, limit, maxBytes });
          expect({ ...got, payloads: Buffer.from(got.payloads).toString("hex") }).toEqual(
            await expectedPage(reader, after, limit, maxBytes),
          );
          // The caller owns the whole buffer: not a view of the driver's pool slab.
          expect(got.payloads.byteOffset).toBe(0);
          expect(got.payloads.buffer.byteLength).toBe(got.payloads.byteLength);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("gives a reset stream's new epoch with no records", async () => {
    const store = stores.events(stores.schema("packed_reset"));
    await store.append("s", [{ name: "e", payload: new Uint8Array([1]) }]);
    const { epoch } = await store.reset("s");
    expect(await store.readPacked("s", { after: 0, limit: 10, maxBytes: 10 })).toEqual({
      epoch,
      head: 0,
      earliest: 1,
      records: [],
      payloads: new Uint8Array(0),
    });
  });
});
