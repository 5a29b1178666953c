// Appends/s and replay reads/s of MongoEventStore against the raw driver writing and reading the
// same documents, in the same run, on the same server. Uses MONGODB_URL, else starts FerretDB.
//   pnpm bench                      (defaults)
//   BENCH_EVENTS=20000 pnpm bench   (events per scenario)
import { newId } from "@assured/core/store";
import { type RunningService, startFerretDB } from "@assured/test-services";
import { Binary, type Collection, type Document, MongoClient } from "mongodb";
import { MongoEventStore } from "../src/index.js";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5_000);
const SINGLES = Math.min(EVENTS, Number(process.env.BENCH_SINGLES ?? 1_000));
const BATCH = 100;
const ROUNDS = 2;
const PAGE = 1_000;
const PAYLOAD = new Uint8Array(128).fill(7);

interface Row {
  scenario: string;
  store: number;
  raw: number;
  unit: string;
}

function rate(count: number, startedAt: number): number {
  return count / ((performance.now() - startedAt) / 1_000);
}

function rawDocument(epoch: string, offset: number): Document {
  return {
    _id: `${epoch}:${String(offset).padStart(16, "0")}`,
    s: "bench",
    e: epoch,
    o: offset,
    i: newId(),
    n: "event",
    p: new Binary(PAYLOAD),
    t: Date.now(),
  };
}

async function rawCollection(client: MongoClient, database: string): Promise<Collection> {
  const raw = client
    .db(database)
    .collection("raw_events", { writeConcern: { w: "majority", j: true } });
  // The same unique indexes the store has: the raw driver pays the same index cost.
  await raw.createIndex({ s: 1, e: 1, o: 1 }, { unique: true });
  await raw.createIndex({ s: 1, e: 1, i: 1 }, { unique: true });
  return raw;
}

async function main(): Promise<void> {
  const server: RunningService | undefined =
    process.env.MONGODB_URL === undefined ? await startFerretDB() : undefined;
  const url = process.env.MONGODB_URL ?? server!.url;
  const client = new MongoClient(url);
  const database = `bench_${Date.now().toString(36)}`;
  const store = new MongoEventStore({ connection: client, database });
  const rows: Row[] = [];
  try {
    const raw = await rawCollection(client, database);
    const support = await store.serverSupport();
    const entry = () => ({ name: "event", payload: PAYLOAD });

    /** Runs store and raw alternately ROUNDS times (less skew from a busy machine); best of each. */
    const compare = async (
      scenario: string,
      storeRun: (round: number) => Promise<number>,
      rawRun: (round: number) => Promise<number>,
    ) => {
      let best = { store: 0, raw: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        let t = performance.now();
        const stored = rate(await storeRun(round), t);
        t = performance.now();
        const rawed = rate(await rawRun(round), t);
        best = { store: Math.max(best.store, stored), raw: Math.max(best.raw, rawed) };
      }
      rows.push({ scenario, ...best, unit: "events/s" });
    };
    const rawEpochs = Array.from({ length: ROUNDS }, () => newId());

    // 1. One event per call, awaited one after another.
    await compare(
      "append, 1 event per call",
      async (round) => {
        for (let n = 0; n < SINGLES; n++) await store.append(`single-${round}`, [entry()]);
        return SINGLES;
      },
      async () => {
        const epoch = newId();
        for (let n = 1; n <= SINGLES; n++) await raw.insertMany([rawDocument(epoch, n)]);
        return SINGLES;
      },
    );

    // 2. Many single-event appends issued in the same tick (group commit into one insertMany).
    await compare(
      `append, ${BATCH} concurrent calls of 1 event`,
      async (round) => {
        for (let n = 0; n < EVENTS; n += BATCH) {
          await Promise.all(
            Array.from({ length: BATCH }, () => store.append(`grouped-${round}`, [entry()])),
          );
        }
        return EVENTS;
      },
      async () => {
        const epoch = newId();
        for (let n = 0; n < EVENTS; n += BATCH) {
          await raw.insertMany(
            Array.from({ length: BATCH }, (_, k) => rawDocument(epoch, n + k + 1)),
          );
        }
        return EVENTS;
      },
    );

    // 3. Batches of BATCH events per call.
    await compare(
      `append, ${BATCH} events per call`,
      async (round) => {
        for (let n = 0; n < EVENTS; n += BATCH) {
          await store.append(`batched-${round}`, Array.from({ length: BATCH }, entry));
        }
        return EVENTS;
      },
      async (round) => {
        const epoch = rawEpochs[round]!;
        for (let n = 0; n < EVENTS; n += BATCH) {
          await raw.insertMany(
            Array.from({ length: BATCH }, (_, k) => rawDocument(epoch, n + k + 1)),
          );
        }
        return EVENTS;
      },
    );

    // 4. Replay: a whole stream, PAGE events per read, against one raw cursor over the same documents.
    await compare(
      `replay, pages of ${PAGE}`,
      async () => {
        let read = 0;
        for (let after = 0; ; ) {
          const page = await store.read("batched-0", { after, limit: PAGE });
          read += page.records.length;
          const last = page.records.at(-1);
          if (last === undefined || last.offset >= page.head) return read;
          after = last.offset;
        }
      },
      async () => {
        let read = 0;
        const cursor = raw.find({ e: rawEpochs[0]! }).sort({ _id: 1 }).batchSize(PAGE);
        for await (const _ of cursor) read++;
        return read;
      },
    );

    console.log(`server: ${support.kind} (${url}), TTL indexes: ${support.ttlIndexes}`);
    console.log(
      `events per scenario: ${EVENTS} (single-event calls: ${SINGLES}), payload ${PAYLOAD.length} bytes`,
    );
    console.log(
      `write concern { w: 'majority', j: true } for both; raw = the same documents and indexes; best of ${ROUNDS} alternating rounds\n`,
    );
    console.log(
      `${"scenario".padEnd(42)}${"store".padStart(12)}${"raw driver".padStart(14)}${"store/raw".padStart(11)}`,
    );
    for (const row of rows) {
      console.log(
        `${row.scenario.padEnd(42)}${row.store.toFixed(0).padStart(12)}${row.raw.toFixed(0).padStart(14)}${(row.store / row.raw).toFixed(2).padStart(11)}  ${row.unit}`,
      );
    }
  } finally {
    await store.close();
    await client
      .db(database)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await server?.stop();
  }
}

await main();
