import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import { MongoDedupStore, MongoEventStore } from "@assured/store-mongodb";
import { PostgresDedupStore, PostgresEventStore } from "@assured/store-postgres";
import { RedisDedupStore, RedisEventStore, streamLogKey } from "@assured/store-redis";
import { createSqliteStores } from "@assured/store-sqlite";
import {
  freePort,
  type RunningFerretDB,
  type RunningPostgres,
  type RunningRedis,
  startFerretDB,
  startPostgres,
  startRedis,
} from "@assured/test-services";
import { Redis } from "ioredis";
import { type Document, MongoClient } from "mongodb";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RecordingClient } from "../src/recording-client.js";
import {
  type RunningSocketServer,
  type SocketServerOptions,
  startSocketServer,
} from "../src/socket-server.js";

/*
 * Positions detect divergence (DESIGN §8), end to end with real stores, servers and clients:
 * a client processes events 1–5; the store's log is taken back to an older copy (a snapshot
 * restore, a failover that lost writes) and new events reuse offsets 4 and 5 in the same
 * epoch. Before, the client resumed with `recovered: true` and silently skipped them; now it is
 * told `recovered: false, reason: "diverged"`, continues from the head (like an `epoch`
 * outcome), receives what follows, and `resubscribe(from: "earliest")` gives the new history.
 */

const STREAM = "feed";
const clients: RecordingClient[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let redis: RunningRedis | undefined;
let ferret: RunningFerretDB | undefined;
let postgres: RunningPostgres | undefined;
beforeAll(async () => {
  [redis, ferret, postgres] = await Promise.all([startRedis(), startFerretDB(), startPostgres()]);
});
afterAll(async () => {
  await Promise.allSettled([redis?.stop(), ferret?.stop(), postgres?.stop()]);
});

/** A server on the stores, stopped after the test (the stores are closed by their own cleanup). */
async function serve(stores: Pick<SocketServerOptions, "store" | "dedupStore">) {
  const server = await startSocketServer(stores);
  cleanups.push(() => server.close());
  return server;
}

/** A client of `url` on `storage` (its positions persist there), subscribed to the feed. */
async function connectClient(url: string, storage: ClientStorage): Promise<RecordingClient> {
  const client = new RecordingClient(url, { storage });
  clients.push(client);
  client.client.subscribe(STREAM, { from: "earliest" });
  await client.client.connect();
  return client;
}

async function publish(server: RunningSocketServer, ...values: number[]): Promise<void> {
  for (const n of values) await server.assured.publish(STREAM, "e", n);
}

/** Waits for the client's `count`-th outcome and returns it. */
async function nthOutcome(client: RecordingClient, count: number) {
  await client.changes.until(() => client.outcomes.length >= count, {
    what: () => `outcome ${count}; got ${JSON.stringify(client.outcomes)}`,
  });
  const { recovered, reason } = client.outcomes[count - 1]!;
  return reason === undefined ? { recovered } : { recovered, reason };
}

/** Waits until the client has delivered `count` events and returns their data. */
async function dataAfter(client: RecordingClient, count: number): Promise<unknown[]> {
  await client.changes.until(() => client.data(STREAM).length >= count, {
    what: () => `${count} events; got ${JSON.stringify(client.data(STREAM))}`,
  });
  return client.data(STREAM);
}

/**
 * After the rollback: the outcome is `diverged`, the client continues from the head (102 is
 * delivered, 100 and 101 are not replayed behind its back) and a resync gives the new history.
 */
async function expectDiverged(
  client: RecordingClient,
  server: RunningSocketServer,
  outcomeNumber: number,
): Promise<void> {
  expect(await nthOutcome(client, outcomeNumber)).toEqual({
    recovered: false,
    reason: "diverged",
  });
  const before = client.data(STREAM).length;
  await publish(server, 102);
  expect((await dataAfter(client, before + 1)).slice(before)).toEqual([102]);
  client.client.resubscribe(STREAM, { from: "earliest" });
  const all = await dataAfter(client, before + 7);
  expect(all.slice(before + 1)).toEqual([1, 2, 3, 100, 101, 102]);
  expect(client.errors).toEqual([]);
}

describe("positions detect divergence: Redis", () => {
  async function redisRig() {
    const keyPrefix = `e2e:divergence:${newId()}:`;
    const store = new RedisEventStore({ redis: redis!.url, keyPrefix });
    const dedupStore = new RedisDedupStore({ redis: redis!.url, keyPrefix });
    const admin = new Redis(redis!.url);
    cleanups.push(async () => {
      admin.disconnect();
      await store.close();
      await dedupStore.close();
    });
    const server = await serve({ store, dedupStore });
    return { server, admin, key: streamLogKey(keyPrefix, STREAM) };
  }

  it("G6: the stream's hash restored from an older DUMP, offsets reused: the reconnecting client gets diverged, then the new events", async () => {
    const { server, admin, key } = await redisRig();
    const client = await connectClient(server.url, memoryStorage());
    await publish(server, 1, 2, 3);
    await dataAfter(client, 3);
    const dump = await admin.dumpBuffer(key);
    await publish(server, 4, 5);
    expect(await dataAfter(client, 5)).toEqual([1, 2, 3, 4, 5]);

    // While the client is away, the store is restored from an older snapshot (the hash as it
    // was at offset 3, same epoch) and new events take offsets 4 and 5 again.
    client.socket.disconnect();
    expect(await admin.restore(key, 0, dump, "REPLACE")).toBe("OK");
    await publish(server, 100, 101);
    client.socket.connect();
    await expectDiverged(client, server, 2);
  });

  it("G6: the same restore under a connected client: the rewritten event at its offset arrives live, it gets diverged without reconnecting", async () => {
    const { server, admin, key } = await redisRig();
    const client = await connectClient(server.url, memoryStorage());
    await publish(server, 1, 2, 3);
    await dataAfter(client, 3);
    const dump = await admin.dumpBuffer(key);
    await publish(server, 4, 5);
    await dataAfter(client, 5);
    expect(await admin.restore(key, 0, dump, "REPLACE")).toBe("OK");
    const connects = client.connects;
    await publish(server, 100, 101); // offset 5 now holds another event
    await expectDiverged(client, server, 2);
    expect(client.connects).toBe(connects);
  });

  it("G6: redis-server restarted from an older RDB snapshot, offsets reused: the reconnecting client gets diverged, then the new events", async () => {
    const own = await startRedis();
    let running: RunningRedis = own;
    const snapshotDir = mkdtempSync(join(tmpdir(), "assured-e2e-rdb-"));
    cleanups.push(async () => {
      await running.stop();
      rmSync(snapshotDir, { recursive: true, force: true });
    });
    const keyPrefix = `e2e:divergence:${newId()}:`;
    const store = new RedisEventStore({ redis: own.url, keyPrefix });
    const dedupStore = new RedisDedupStore({ redis: own.url, keyPrefix });
    const admin = new Redis(own.url, { maxRetriesPerRequest: null });
    cleanups.push(async () => {
      admin.disconnect();
      await store.close();
      await dedupStore.close();
    });
    const server = await serve({ store, dedupStore });
    const client = await connectClient(server.url, memoryStorage());
    await publish(server, 1, 2, 3);
    await dataAfter(client, 3);
    expect(await admin.save()).toBe("OK"); // the snapshot: the log up to offset 3
    copyFileSync(join(own.dir, "dump.rdb"), join(snapshotDir, "dump.rdb"));
    await publish(server, 4, 5);
    expect(await dataAfter(client, 5)).toEqual([1, 2, 3, 4, 5]);

    // While the client is away the server dies and comes back from the older snapshot (same
    // epoch: it is in the snapshot); new events take offsets 4 and 5 again.
    client.socket.disconnect();
    await own.crash();
    copyFileSync(join(snapshotDir, "dump.rdb"), join(own.dir, "dump.rdb"));
    running = await startRedis({ port: own.port, dir: own.dir });
    // The store's connection comes back by itself (ioredis reconnects): wait until it answers.
    for (let attempt = 1; ; attempt++) {
      const answered = await store.head(STREAM).then(
        (head) => head,
        () => undefined,
      );
      if (answered !== undefined) {
        expect(answered.head).toBe(3); // the snapshot's log
        break;
      }
      if (attempt >= 100) throw new Error("the store did not reconnect to the restarted Redis");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await publish(server, 100, 101);
    client.socket.connect();
    await expectDiverged(client, server, 2);
  });

  it("G6 control: without a rollback the same reconnect recovers and nothing is skipped", async () => {
    const { server } = await redisRig();
    const client = await connectClient(server.url, memoryStorage());
    await publish(server, 1, 2, 3, 4, 5);
    await dataAfter(client, 5);
    client.socket.disconnect();
    await publish(server, 6, 7);
    client.socket.connect();
    expect(await nthOutcome(client, 2)).toEqual({ recovered: true });
    expect(await dataAfter(client, 7)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("positions detect divergence: SQLite", () => {
  it("G6: the database file restored from an older copy under a restarted server: the client gets diverged, then the new events", async () => {
    const directory = mkdtempSync(join(tmpdir(), "assured-e2e-divergence-"));
    cleanups.push(async () => rmSync(directory, { recursive: true, force: true }));
    const path = join(directory, "assured.sqlite");
    const saved = join(directory, "older.sqlite");
    const port = await freePort();
    /** Opens the stores on the file and a server on the same port each time. */
    const start = async () => {
      const stores = createSqliteStores({ path });
      const server = await startSocketServer({
        port,
        store: stores.eventStore,
        dedupStore: stores.dedupStore,
      });
      return {
        server,
        stop: async () => {
          await server.close();
          await stores.close();
        },
      };
    };
    const sidecars = (file: string) => [file, `${file}-wal`, `${file}-shm`];
    /** Copies the database (and its WAL files, if any) while no server has it open. */
    const copy = (from: string, to: string) => {
      const targets = sidecars(to);
      for (const file of targets) rmSync(file, { force: true });
      for (const [k, file] of sidecars(from).entries()) {
        if (existsSync(file)) copyFileSync(file, targets[k]!);
      }
    };

    let life = await start();
    const storage = memoryStorage();
    const first = await connectClient(life.server.url, storage);
    await publish(life.server, 1, 2, 3);
    await dataAfter(first, 3);
    await life.stop();
    copy(path, saved);
    life = await start();
    cleanups.push(() => life.stop());
    // The server disconnected it on purpose: it connects again, and its position still holds.
    first.socket.connect();
    expect(await nthOutcome(first, 2)).toEqual({ recovered: true });
    await publish(life.server, 4, 5);
    expect(await dataAfter(first, 5)).toEqual([1, 2, 3, 4, 5]);
    await first.close();

    // Restore the older copy and restart the server on it: offsets 4 and 5 are appended again.
    await life.stop();
    copy(saved, path);
    life = await start();
    await publish(life.server, 100, 101);
    // A new page life on the same storage resumes from the stored (epoch, 5, id).
    const again = await connectClient(life.server.url, storage);
    await expectDiverged(again, life.server, 1);
  });
});

describe("positions detect divergence: MongoDB wire protocol (FerretDB)", () => {
  it("G6: the stream's documents at offsets 4 and 5 rewritten under the server: the client gets diverged, then the new events", async () => {
    const database = `e2e_divergence_${newId().replace(/[^A-Za-z0-9]/g, "")}`;
    const store = new MongoEventStore({ connection: ferret!.url, database });
    const dedupStore = new MongoDedupStore({ connection: ferret!.url, database });
    const admin = new MongoClient(ferret!.url, { serverSelectionTimeoutMS: 5_000 });
    cleanups.push(async () => {
      await store.close();
      await dedupStore.close();
      await admin.close();
    });
    const server = await serve({ store, dedupStore });
    const storage = memoryStorage();
    const first = await connectClient(server.url, storage);
    await publish(server, 1, 2, 3, 4, 5);
    await dataAfter(first, 5);
    await first.close();

    // A failover that lost offsets 4 and 5 while the new primary accepted other events there:
    // the documents now hold other events (other ids) at the same offsets, in the same epoch.
    const events = admin.db(database).collection<Document>("assured_events");
    const stored = await events.find({ s: STREAM }).sort({ o: 1 }).toArray();
    expect(stored.map((d) => d.o)).toEqual([1, 2, 3, 4, 5]);
    // Two events as the same server appends them, to copy their documents from.
    const scratch = `${STREAM}:scratch`;
    await server.assured.publish(scratch, "e", 100);
    await server.assured.publish(scratch, "e", 101);
    const replacements = await events.find({ s: scratch }).sort({ o: 1 }).toArray();
    for (const [k, doc] of replacements.entries()) {
      const target = stored[3 + k]!;
      const replacement = { ...doc, _id: target._id, s: STREAM, e: target.e, o: target.o };
      await events.replaceOne({ _id: target._id }, replacement);
    }

    const again = await connectClient(server.url, storage);
    await expectDiverged(again, server, 1);
  });
});

describe("positions detect divergence: PostgreSQL", () => {
  it("G6: the log taken back to offset 3 under the server (a restore that lost writes), offsets reused: the client gets diverged, then the new events", async () => {
    const schema = `e2e_divergence_${newId()
      .replace(/[^A-Za-z0-9]/g, "")
      .toLowerCase()}`;
    const admin = new pg.Pool({ connectionString: postgres!.url, max: 2 });
    const store = new PostgresEventStore({ connection: admin, schema });
    const dedupStore = new PostgresDedupStore({ connection: admin, schema });
    cleanups.push(async () => {
      await store.close();
      await dedupStore.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });
    const server = await serve({ store, dedupStore });
    const storage = memoryStorage();
    const first = await connectClient(server.url, storage);
    await publish(server, 1, 2, 3, 4, 5);
    expect(await dataAfter(first, 5)).toEqual([1, 2, 3, 4, 5]);
    await first.close();

    // The tables as an older backup had them: offsets 4 and 5 gone, the head back at 3, the
    // same epoch. The server's next appends take offsets 4 and 5 again.
    const name = Buffer.from(STREAM, "utf8");
    const client = await admin.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `DELETE FROM ${schema}.assured_events WHERE event_offset > 3 AND stream_id = ` +
          `(SELECT stream_id FROM ${schema}.assured_streams WHERE stream_name = $1)`,
        [name],
      );
      const rolled = await client.query(
        `UPDATE ${schema}.assured_streams SET head = 3 WHERE stream_name = $1`,
        [name],
      );
      expect(rolled.rowCount).toBe(1);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    await publish(server, 100, 101);
    expect(
      (await store.read(STREAM, { after: 3, limit: 10 })).records.map((r) => r.offset),
    ).toEqual([4, 5]);

    const again = await connectClient(server.url, storage);
    await expectDiverged(again, server, 1);
  });
});
