import { describe, expect, it } from "vitest";
import { expectSameBytes } from "../assertions.js";
import { readAll } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Deterministic pseudo-random bytes (a linear congruential generator), so failures reproduce. */
function pseudoRandomBytes(length: number, seed = 42): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** Payload fidelity: stored bytes come back exactly, whatever they are. */
export function describePayloads(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("payloads (exact round-trip)", () => {
    const stores = useEventStores(harness);

    async function roundTrip(payload: Uint8Array): Promise<Uint8Array> {
      const store = await stores.create();
      await store.append("s", [{ id: "p", name: "payload", payload }]);
      const [record] = (await store.read("s", { after: 0, limit: 1 })).records;
      expect(record, "the record was not read back").toBeDefined();
      return record!.payload;
    }

    it(
      "round-trips every byte value 0x00–0xFF, including leading and trailing zeros",
      async () => {
        const payload = new Uint8Array([
          0,
          0,
          ...Array.from({ length: 256 }, (_, i) => i),
          0xff,
          0,
        ]);
        expectSameBytes(await roundTrip(payload), payload, "all byte values");
      },
      timeout,
    );

    it(
      "round-trips an empty payload as an empty Uint8Array",
      async () => {
        expectSameBytes(await roundTrip(new Uint8Array()), new Uint8Array(), "empty payload");
      },
      timeout,
    );

    it(
      "round-trips a 1 MiB payload exactly",
      async () => {
        const payload = pseudoRandomBytes(1024 * 1024);
        expectSameBytes(await roundTrip(payload), payload, "1 MiB payload");
      },
      timeout,
    );

    it(
      "round-trips UTF-8 text bytes, and Unicode event names and ids",
      async () => {
        const store = await stores.create();
        const text = "héllo 世界 🎉 \u0000 \uFFFD \u202E end";
        const payload = new TextEncoder().encode(text);
        const name = "évènement 🎉 \"quoted\" 'single' \n line";
        const id = "🔑".repeat(256);
        await store.append("s", [{ id, name, payload }]);
        const [record] = await readAll(store, "s");
        expect(record).toMatchObject({ id, name });
        expect(new TextDecoder().decode(record!.payload)).toBe(text);
        const [again] = await store.append("s", [{ id, name, payload }]);
        expect(again).toMatchObject({ offset: 1, duplicate: true });
      },
      timeout,
    );

    it(
      "stores only the bytes of a view into a larger buffer",
      async () => {
        const backing = new Uint8Array([9, 9, 9, 1, 2, 3, 9, 9]);
        const view = backing.subarray(3, 6);
        expectSameBytes(await roundTrip(view), new Uint8Array([1, 2, 3]), "subarray payload");
      },
      timeout,
    );

    it(
      "is not altered when the caller changes its array after append",
      async () => {
        const store = await stores.create();
        const payload = new Uint8Array([1, 2, 3]);
        await store.append("s", [{ id: "a", name: "n", payload }]);
        payload.fill(0);
        const [record] = await readAll(store, "s");
        expectSameBytes(record!.payload, new Uint8Array([1, 2, 3]), "stored payload");
      },
      timeout,
    );

    it(
      "is not altered when the caller changes its array before append resolves",
      async () => {
        const store = await stores.create();
        const payload = new Uint8Array([4, 5, 6]);
        const pending = store.append("s", [{ id: "a", name: "n", payload }]);
        payload.fill(0);
        await pending;
        const [record] = await readAll(store, "s");
        expectSameBytes(record!.payload, new Uint8Array([4, 5, 6]), "stored payload");
      },
      timeout,
    );

    it(
      "is not altered when a reader changes a record it read",
      async () => {
        const store = await stores.create();
        await store.append("s", [{ id: "a", name: "n", payload: new Uint8Array([7, 8]) }]);
        const [first] = await readAll(store, "s");
        first!.payload.fill(0);
        const [again] = await readAll(store, "s");
        expectSameBytes(again!.payload, new Uint8Array([7, 8]), "stored payload");
      },
      timeout,
    );

    it(
      "keeps each payload of a batch with its own entry",
      async () => {
        const store = await stores.create();
        const payloads = [
          new Uint8Array([1]),
          new Uint8Array(),
          pseudoRandomBytes(1000, 7),
          new Uint8Array([0]),
        ];
        await store.append(
          "s",
          payloads.map((payload, i) => ({ id: `p${i}`, name: `n${i}`, payload })),
        );
        const records = await readAll(store, "s");
        expect(records.map((r) => [r.id, r.name])).toEqual(
          payloads.map((_, i) => [`p${i}`, `n${i}`]),
        );
        for (const [i, record] of records.entries()) {
          expectSameBytes(record.payload, payloads[i]!, `payload ${i}`);
        }
      },
      timeout,
    );
  });
}
