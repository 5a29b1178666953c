import { Binary } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { type EventDocument, eventKey } from "../src/documents.js";
import { SequentialScans } from "../src/sequential-scan.js";
import { isolatedDatabase, useClient } from "./mongo-fixture.js";

const client = useClient();
const databases: string[] = [];

afterEach(async () => {
  for (const database of databases.splice(0)) await client().db(database).dropDatabase();
});

function event(epoch: string, offset: number): EventDocument {
  return {
    _id: eventKey(epoch, offset),
    s: "s",
    e: epoch,
    o: offset,
    i: `id${offset}`,
    n: "message",
    p: new Binary(new Uint8Array([offset])),
    t: offset,
  };
}

async function collectionWith(offsets: number[], epoch = "ep") {
  const database = isolatedDatabase("scan");
  databases.push(database);
  const events = client().db(database).collection<EventDocument>("assured_events");
  // One insert each, in this order: the order a scan without a sort meets them in.
  for (const offset of offsets) await events.insertOne(event(epoch, offset));
  return events;
}

describe("SequentialScans", () => {
  it("returns consecutive offsets whatever order they were inserted in, and continues the cursor", async () => {
    const events = await collectionWith([2, 1, 5, 3, 4, 7, 6, 8]);
    await client()
      .db(events.dbName)
      .collection<EventDocument>("assured_events")
      .insertOne(event("other", 1));
    const scans = new SequentialScans(events);
    try {
      expect((await scans.read("ep", 1, 3)).map((d) => d.o)).toEqual([1, 2, 3]);
      expect(scans.continues("ep", 4)).toBe(true);
      expect((await scans.read("ep", 4, 6)).map((d) => d.o)).toEqual([4, 5, 6]);
      expect((await scans.read("ep", 7, 20)).map((d) => d.o)).toEqual([7, 8]);
      // The cursor's end: the next read asks the log anew.
      expect(scans.continues("ep", 9)).toBe(false);
    } finally {
      await scans.close();
    }
  });

  it("stops before a missing offset and leaves the cursor for a new read", async () => {
    const events = await collectionWith([1, 2, 4, 5]);
    const scans = new SequentialScans(events);
    try {
      expect((await scans.read("ep", 1, 5)).map((d) => d.o)).toEqual([1, 2]);
      expect(scans.continues("ep", 3)).toBe(false);
      expect((await scans.read("ep", 4, 5)).map((d) => d.o)).toEqual([4, 5]);
    } finally {
      await scans.close();
    }
  });
});
