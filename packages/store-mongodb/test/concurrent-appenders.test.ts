import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EventStore } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { MongoEventStore } from "../src/index.js";
import { isolatedDatabase, mongodbUrl, newClient, useClient } from "./mongo-fixture.js";

const admin = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `count` stores on the same database, each on a MongoClient of its own. */
function storesOnOwnClients(database: string, count: number): MongoEventStore[] {
  return Array.from({ length: count }, () => {
    const client = newClient();
    const store = new MongoEventStore({ connection: client, database });
    cleanups.push(async () => {
      await store.close();
      await client.close();
    });
    return store;
  });
}

/**
 * Polls a stream from offset 0 until it has seen `total` events; every page must continue
 * exactly at the cursor. Returns the offsets it saw.
 */
async function readUntil(store: EventStore, stream: string, total: number): Promise<number[]> {
  const seen: number[] = [];
  let cursor = 0;
  while (cursor < total) {
    const { records } = await store.read(stream, { after: cursor, limit: 23 });
    records.forEach((record, k) => {
      expect(record.offset, `a reader saw a gap after ${cursor}`).toBe(cursor + 1 + k);
    });
    seen.push(...records.map((r) => r.offset));
    cursor = records.at(-1)?.offset ?? cursor;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return seen;
}

function runAppenderProcess(args: string[]): Promise<string> {
  const script = fileURLToPath(new URL("./processes/appender.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ["--conditions=@assured/source", script, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(output.trim()) : reject(new Error(`appender exited ${code}: ${output}`)),
    );
  });
}

describe("concurrent appenders on several clients and processes", () => {
  it("prefix visibility: 8 appenders on 4 MongoClients give offsets 1..N once, and no reader sees a gap", async () => {
    const database = isolatedDatabase("concurrent");
    cleanups.push(async () => {
      await admin().db(database).dropDatabase();
    });
    const stores = storesOnOwnClients(database, 7);
    const appenders = stores.slice(0, 4);
    const readers = stores.slice(4);
    const batchSizes = [1, 3, 2, 1, 4];
    const perAppender = 4 * batchSizes.reduce((a, b) => a + b, 0);
    const total = 8 * perAppender;
    const reading = readers.map((store) => readUntil(store, "s", total));
    const appending = Array.from({ length: 8 }, async (_, n) => {
      const store = appenders[n % appenders.length]!;
      const offsets: number[] = [];
      for (let b = 0; b < 4 * batchSizes.length; b++) {
        const size = batchSizes[b % batchSizes.length]!;
        const batch = Array.from({ length: size }, (_, k) => ({
          id: `w${n}-b${b}-${k}`,
          name: "event",
          payload: new Uint8Array([n, b, k]),
        }));
        const results = await store.append("s", batch);
        // One batch gets consecutive offsets.
        expect(results.map((r) => r.offset - results[0]!.offset)).toEqual(batch.map((_, k) => k));
        offsets.push(...results.map((r) => r.offset));
      }
      return offsets;
    });
    const offsets = (await Promise.all(appending)).flat().sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const seen of await Promise.all(reading)) {
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
    const stored = await admin()
      .db(database)
      .collection("assured_events")
      .find({ s: "s" })
      .toArray();
    expect(new Set(stored.map((d) => d.i)).size).toBe(total);
    expect(stored.map((d) => d.o as number).sort((a, b) => a - b)).toEqual(offsets);
  });

  it("prefix visibility across processes: two appender processes and a reader in this one", async () => {
    const database = isolatedDatabase("processes");
    cleanups.push(async () => {
      await admin().db(database).dropDatabase();
    });
    const [reader, local] = storesOnOwnClients(database, 2);
    const batches = 15;
    const total = 3 * batches * 2;
    const reading = readUntil(reader!, "p", total);
    const children = [
      runAppenderProcess([mongodbUrl, database, "p", "child-a", String(batches)]),
      runAppenderProcess([mongodbUrl, database, "p", "child-b", String(batches)]),
    ];
    let localAppended = 0;
    for (let b = 0; b < batches; b++) {
      const payload = new Uint8Array([b]);
      const results = await local!.append("p", [
        { id: `local-${b}-0`, name: "event", payload },
        { id: `local-${b}-1`, name: "event", payload },
      ]);
      localAppended += results.length;
    }
    expect(await Promise.all(children)).toEqual([
      `appended ${batches * 2}`,
      `appended ${batches * 2}`,
    ]);
    expect(localAppended).toBe(batches * 2);
    expect(await reading).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await reader!.head("p")).toMatchObject({ head: total, earliest: 1 });
  }, 60_000);

  it("an instance that remembers an old epoch appends to the new one after another instance's reset", async () => {
    const database = isolatedDatabase("reset");
    cleanups.push(async () => {
      await admin().db(database).dropDatabase();
    });
    const [first, second] = storesOnOwnClients(database, 2);
    const [old] = await first!.append("s", [{ id: "a", name: "e", payload: new Uint8Array([1]) }]);
    const renewed = await second!.reset("s");
    const [next] = await first!.append("s", [{ id: "b", name: "e", payload: new Uint8Array([2]) }]);
    expect(next).toMatchObject({ offset: 1, epoch: renewed.epoch, duplicate: false });
    expect(renewed.epoch).not.toBe(old!.epoch);
    const stored = await admin().db(database).collection("assured_events").find().toArray();
    expect(stored.map((d) => [d.e, d.o, d.i])).toEqual([[renewed.epoch, 1, "b"]]);
  });

  it("length retention with concurrent appenders and sweeps: no offset is issued twice", async () => {
    const database = isolatedDatabase("trim");
    cleanups.push(async () => {
      await admin().db(database).dropDatabase();
    });
    const stores = Array.from({ length: 3 }, () => {
      const client = newClient();
      const store = new MongoEventStore({
        connection: client,
        database,
        retention: { maxLength: 5 },
      });
      cleanups.push(async () => {
        await store.close();
        await client.close();
      });
      return store;
    });
    let appending = true;
    const sweeping = (async () => {
      while (appending) await stores[2]!.sweepExpired();
    })();
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, n) => {
        const offsets: number[] = [];
        for (let b = 0; b < 10; b++) {
          const [result] = await stores[n % 2]!.append("s", [
            { id: `w${n}-${b}`, name: "e", payload: new Uint8Array([n]) },
          ]);
          offsets.push(result!.offset);
        }
        return offsets;
      }),
    ).finally(() => {
      appending = false;
    });
    await sweeping;
    const offsets = results.flat().sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const page = await stores[0]!.read("s", { after: 0, limit: 100 });
    expect(page).toMatchObject({ head: 60, earliest: 56 });
    expect(page.records.map((r) => r.offset)).toEqual([56, 57, 58, 59, 60]);
  });
});
