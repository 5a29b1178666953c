import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SqliteEventStore } from "../src/index.js";
import {
  PAGE_COLUMNS_SQL,
  type PageColumns,
  packColumns,
  pageColumnsBound,
} from "../src/packed-page.js";
import { useTempStores } from "./support/temp-database.js";

/** What `readPacked` must return: `read`'s records cut after `maxBytes` (the first always). */
function expectedPage(
  records: { offset: number; id: string; name: string; payload: Uint8Array; time: number }[],
  maxBytes: number,
) {
  let bytes = 0;
  let count = 0;
  for (; count < records.length; count++) {
    const length = records[count]!.payload.byteLength;
    if (count > 0 && bytes + length > maxBytes) break;
    bytes += length;
  }
  const kept = records.slice(0, count);
  const payloads = new Uint8Array(bytes);
  let at = 0;
  for (const r of kept) {
    payloads.set(r.payload, at);
    at += r.payload.byteLength;
  }
  return {
    records: kept.map((r) => [r.offset, r.id, r.name, r.payload.byteLength, r.time]),
    payloads,
  };
}

describe("SqliteEventStore.readPacked (the page read as columns)", () => {
  const temp = useTempStores((path) => new SqliteEventStore({ path }));

  it("gives read's records and payloads, cut after maxBytes, for any events and page bounds", async () => {
    const store = temp.open();
    const text = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 });
    const event = fc.record({
      id: fc.oneof(text, fc.constantFrom('quote"d', "back\\slash", "tab\tnew\nline", "é😀")),
      name: text,
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    let stream = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(event, { minLength: 1, maxLength: 40, selector: (e) => e.id }),
        fc.nat(45),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 4_000 }),
        async (events, after, limit, maxBytes) => {
          const name = `s${stream++}`;
          await store.append(name, events);
          const read = await store.read(name, { after, limit });
          const packed = await store.readPacked(name, { after, limit, maxBytes });
          const expected = expectedPage(read.records, maxBytes);
          expect(packed.records).toEqual(expected.records);
          expect(packed.payloads).toEqual(expected.payloads);
          expect(packed.payloads.constructor).toBe(Uint8Array);
          expect(packed.payloads.byteOffset).toBe(0);
          expect(packed.payloads.buffer.byteLength).toBe(packed.payloads.byteLength);
          expect({ ...packed, records: [], payloads: null }).toEqual({
            ...read,
            records: [],
            payloads: null,
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it("leaves out the payloads of a page whose rows hold more than twice maxBytes (read row by row)", async () => {
    const store = temp.open();
    const big = (id: string) => ({ id, name: "n", payload: new Uint8Array(1_000).fill(7) });
    await store.append("s", [big("a"), big("b"), big("c")]);
    const db = new Database(temp.path, { readonly: true });
    try {
      const query = db.prepare(PAGE_COLUMNS_SQL).raw();
      const within = query.get(pageColumnsBound(1_500), 1, 1, 3) as PageColumns;
      expect(within[5]).toEqual(Buffer.alloc(3_000, 7));
      const beyond = query.get(pageColumnsBound(1_000), 1, 1, 3) as PageColumns;
      expect(beyond[5]).toBeNull();
      expect(packColumns(beyond, 1_000)).toBeUndefined();
    } finally {
      db.close();
    }
    const page = await store.readPacked("s", { after: 0, limit: 3, maxBytes: 1_000 });
    expect(page.records.map((r) => r[1])).toEqual(["a"]);
    expect(page.payloads).toEqual(new Uint8Array(1_000).fill(7));
  });

  it("concatenates payload bytes unchanged in the columns: NULs and bytes that are not UTF-8", async () => {
    const store = temp.open();
    const payloads = [
      new Uint8Array([0, 0, 0]),
      new Uint8Array([0xff, 0xfe]),
      new Uint8Array([0xc3]),
      new Uint8Array([0xed, 0xa0, 0x80]),
      new Uint8Array(0),
      new Uint8Array([0x61, 0, 0x62]),
    ];
    await store.append(
      "s",
      payloads.map((payload, i) => ({ id: `e${i}`, name: "n", payload })),
    );
    const all = Buffer.concat(payloads);
    const db = new Database(temp.path, { readonly: true });
    try {
      const columns = db.prepare(PAGE_COLUMNS_SQL).raw().get(1_000, 1, 1, 10) as PageColumns;
      expect(columns[5]).toEqual(all);
      expect(packColumns(columns, 1_000)?.payloads).toEqual(new Uint8Array(all));
    } finally {
      db.close();
    }
    const page = await store.readPacked("s", { after: 0, limit: 10, maxBytes: 1_000 });
    expect(page.payloads).toEqual(new Uint8Array(all));
  });

  it("gives payloads unchanged in a UTF-16 database too (its pages are read as rows)", async () => {
    // The database's encoding is set before its first table, here before the store opens it.
    const db = new Database(temp.path);
    db.pragma("encoding = 'UTF-16le'");
    db.exec("CREATE TABLE app_own (x)");
    db.close();
    const store = temp.open();
    // Read back through group_concat in this database, the first comes back as 00 d8 41 dc:
    // the same length, other bytes (a lone surrogate), so only the encoding check catches it.
    const payloads = [new Uint8Array([0x00, 0xd8, 0x41, 0x00]), new Uint8Array([0x61, 0x62])];
    await store.append(
      "s",
      payloads.map((payload, i) => ({ id: `e${i}`, name: "n", payload })),
    );
    const page = await store.readPacked("s", { after: 0, limit: 10, maxBytes: 1_000 });
    expect(page.payloads).toEqual(new Uint8Array(Buffer.concat(payloads)));
    expect(page.records.map((r) => r[3])).toEqual([4, 2]);
  });

  it("packs a page that keeps no payload byte without the payloads (left out past the bound)", () => {
    const columns: PageColumns = ["[1,2]", '["a","b"]', '["n","n"]', "[0,5000]", "[5,5]", null];
    expect(packColumns(columns, 10)).toEqual({
      records: [[1, "a", "n", 0, 5]],
      payloads: new Uint8Array(0),
    });
    expect(packColumns(["[1]", '["a"]', '["n"]', "[3]", "[5]", null], 10)).toBeUndefined();
  });

  it("leaves columns whose offsets are not ascending to the row query", () => {
    const columns: PageColumns = [
      "[2,1]",
      '["b","a"]',
      '["n","n"]',
      "[1,1]",
      "[5,5]",
      Buffer.from([2, 1]),
    ];
    expect(packColumns(columns, 100)).toBeUndefined();
    const ascending: PageColumns = [
      "[1,2]",
      '["a","b"]',
      '["n","n"]',
      "[1,1]",
      "[5,5]",
      Buffer.from([1, 2]),
    ];
    expect(packColumns(ascending, 100)).toEqual({
      records: [
        [1, "a", "n", 1, 5],
        [2, "b", "n", 1, 5],
      ],
      payloads: new Uint8Array([1, 2]),
    });
  });
});
