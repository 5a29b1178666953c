import { type AssuredError, isAssuredError } from "@assured/core";
import { type RunningFerretDB, startFerretDB } from "@assured/test-services";
import { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { MongoDedupStore, MongoEventStore } from "../src/index.js";
import { isolatedDatabase, mongodbUrl, useClient } from "./mongo-fixture.js";

const client = useClient();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function failure(action: () => Promise<unknown>): Promise<AssuredError> {
  try {
    await action();
  } catch (error) {
    expect(isAssuredError(error), `expected an AssuredError, got ${String(error)}`).toBe(true);
    return error as AssuredError;
  }
  throw new Error("expected the action to fail");
}

const entry = { id: "a", name: "n", payload: new Uint8Array([1]) };
const lease = { leaseMs: 1_000, fingerprint: "fp" };

describe("options", () => {
  it("rejects invalid options with INVALID_ARGUMENT before connecting", () => {
    const bad: unknown[] = [
      undefined,
      {},
      { connection: "http://localhost" },
      { connection: 42 },
      { connection: mongodbUrl, collectionPrefix: "bad-prefix!" },
      { connection: mongodbUrl, collectionPrefix: "" },
      { connection: mongodbUrl, database: "a/b" },
      { connection: mongodbUrl, clock: 5 },
      { connection: mongodbUrl, server: "postgres" },
      { connection: mongodbUrl, readConcern: "snapshot" },
      { connection: mongodbUrl, writeConcern: { w: -1 } },
      { connection: mongodbUrl, writeConcern: { j: "yes" } },
      { connection: mongodbUrl, sweepIntervalMs: -1 },
      { connection: mongodbUrl, retention: { maxLength: 0 } },
      { connection: mongodbUrl, retention: { maxAgeMs: 1.5 } },
      { connection: mongodbUrl, retention: "forever" },
      { connection: mongodbUrl, maxQueuedEntries: 0 },
    ];
    for (const options of bad) {
      expect(() => new MongoEventStore(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ name: "AssuredError", code: "INVALID_ARGUMENT" }),
      );
    }
    expect(() => new MongoDedupStore({ connection: mongodbUrl, collectionPrefix: "$x" })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("refuses a misspelled option name with the closest valid one; a far one gets none", () => {
    const connection = mongodbUrl;
    expect(() => new MongoEventStore({ connection, retension: {} } as never)).toThrow(
      'unknown option "retension" of MongoEventStore — did you mean "retention"? (see MongoEventStoreOptions).',
    );
    expect(
      () => new MongoDedupStore({ connection, writeConcern: { wtimeout: 1 } } as never),
    ).toThrow('unknown option "wtimeout" of writeConcern — did you mean "wtimeoutMS"?');
    expect(() => new MongoEventStore({ connection, bogus: 1 } as never)).toThrow(
      'unknown option "bogus" of MongoEventStore (see MongoEventStoreOptions).',
    );
  });

  it("refuses unknown option names, also in retention and writeConcern; clientOptions pass through", async () => {
    const refused = (make: () => unknown, name: string) =>
      expect(make).toThrow(
        expect.objectContaining({
          code: "INVALID_ARGUMENT",
          message: expect.stringContaining(`unknown option "${name}"`),
        }),
      );
    const connection = mongodbUrl;
    refused(() => new MongoEventStore({ connection, bogus: 1 } as never), "bogus");
    refused(() => new MongoEventStore({ connection, maxEntries: 5 } as never), "maxEntries");
    refused(() => new MongoDedupStore({ connection, maxEntry: 5 } as never), "maxEntry");
    refused(() => new MongoDedupStore({ connection, retention: {} } as never), "retention");
    refused(
      () => new MongoEventStore({ connection, retention: { maxLenght: 5 } } as never),
      "maxLenght",
    );
    refused(
      () => new MongoDedupStore({ connection, writeConcern: { journal: true } } as never),
      "journal",
    );
    const store = new MongoDedupStore({
      connection,
      database: isolatedDatabase("client-options"),
      clientOptions: { serverSelectionTimeoutMS: 5_000, appName: "assured-options-test" },
    });
    await store.close();
  });

  it("uses the collection prefix for every collection", async () => {
    const database = isolatedDatabase("prefix");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const events = new MongoEventStore({
      connection: client().db(database),
      collectionPrefix: "chat_",
    });
    const dedup = new MongoDedupStore({
      connection: client().db(database),
      collectionPrefix: "chat_",
    });
    await events.append("s", [entry]);
    await dedup.claim("k", lease);
    await events.close();
    await dedup.close();
    const names = (await client().db(database).listCollections().toArray())
      .map((c) => c.name)
      .sort();
    expect(names).toEqual(["chat_dedup", "chat_dedup_owners", "chat_events", "chat_streams"]);
  });
});

describe("ownership on close", () => {
  it("leaves a MongoClient it was given open", async () => {
    const own = new MongoClient(mongodbUrl, { maxPoolSize: 2 });
    cleanups.push(() => own.close());
    const database = isolatedDatabase("owned");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const store = new MongoEventStore({ connection: own, database });
    await store.append("s", [entry]);
    await store.close();
    expect(await own.db(database).collection("assured_events").countDocuments()).toBe(1);
  });

  it("closes the client it created from a connection string", async () => {
    const database = isolatedDatabase("url");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const store = new MongoEventStore({ connection: mongodbUrl, database });
    await store.append("s", [entry]);
    const closed = new Promise<void>((resolve) => {
      (store as unknown as { lifecycle: { ownedClient: MongoClient } }).lifecycle.ownedClient.once(
        "topologyClosed",
        () => resolve(),
      );
    });
    await store.close();
    await closed;
  });

  it("rejects every method with STORE_CLOSED after close, on both stores", async () => {
    const events = new MongoEventStore({
      connection: client(),
      database: isolatedDatabase("closed"),
    });
    const dedup = new MongoDedupStore({
      connection: client(),
      database: isolatedDatabase("closed"),
    });
    await events.close();
    await dedup.close();
    expect((await failure(() => events.append("s", [entry]))).code).toBe("STORE_CLOSED");
    expect((await failure(() => events.sweepExpired())).code).toBe("STORE_CLOSED");
    expect((await failure(() => dedup.claim("k", lease))).code).toBe("STORE_CLOSED");
    expect((await failure(() => dedup.sweepExpired())).code).toBe("STORE_CLOSED");
  });

  it("fails appends still queued at close with STORE_CLOSED, and finishes the batch being written", async () => {
    const database = isolatedDatabase("closing");
    cleanups.push(async () => {
      await client().db(database).dropDatabase();
    });
    const store = new MongoEventStore({ connection: client(), database });
    await store.append("s", [entry]);
    const writing = store.append("s", [{ ...entry, id: "b" }]);
    const closing = store.close();
    const late = await failure(() => store.append("s", [{ ...entry, id: "c" }]));
    expect(late.code).toBe("STORE_CLOSED");
    await closing;
    const outcome = await writing.then(
      (results) => results[0]!.offset,
      (error: AssuredError) => error.code,
    );
    const stored = await client().db(database).collection("assured_events").countDocuments();
    // Either the batch was written before close (offset 2) or it was refused (nothing written).
    expect(outcome === 2 ? stored === 2 : outcome === "STORE_CLOSED" && stored === 1).toBe(true);
  });
});

describe("server unavailable", () => {
  let server: RunningFerretDB | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("wraps driver errors as STORE_UNAVAILABLE (cause kept) when the server crashed, and works again once the server is back", async () => {
    server = await startFerretDB();
    const url = server.url;
    const port = Number(new URL(url).port);
    const options = {
      serverSelectionTimeoutMS: 1_500,
      connectTimeoutMS: 500,
      heartbeatFrequencyMS: 500,
      maxPoolSize: 2,
    };
    const events = new MongoEventStore({
      connection: url,
      database: "down",
      clientOptions: options,
    });
    const dedup = new MongoDedupStore({
      connection: url,
      database: "down",
      clientOptions: options,
    });
    cleanups.push(async () => {
      await events.close();
      await dedup.close();
    });
    await events.append("s", [entry]);
    await server.crash();
    // Concurrently: each waits out the driver's server selection timeout.
    const failures = await Promise.all(
      [
        () => events.append("s", [{ ...entry, id: "b" }]),
        () => events.read("s", { after: 0, limit: 10 }),
        () => events.head("s"),
        () => events.reset("s"),
        () => dedup.claim("k", lease),
        () => dedup.release("k", "token"),
      ].map(failure),
    );
    for (const error of failures) {
      expect(error.code).toBe("STORE_UNAVAILABLE");
      expect(error.cause).toBeInstanceOf(Error);
      expect(error.message).toMatch(/retry later/);
    }
    server = await startFerretDB({ port, dir: server.dir });
    // Same data: the log continues where it was.
    const [result] = await events.append("s", [{ ...entry, id: "b" }]);
    expect(result).toMatchObject({ offset: 2, duplicate: false });
    expect((await dedup.claim("k", lease)).status).toBe("claimed");
    // Close the clients first: FerretDB's graceful stop waits for connected clients.
    await events.close();
    await dedup.close();
  });
});
