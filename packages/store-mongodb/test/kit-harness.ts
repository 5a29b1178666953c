import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import type { Clock, Retention } from "@assured/core/store";
import { RestartableServer, useOwnServer } from "@assured/test-services";
import { MongoClient } from "mongodb";
import { afterAll } from "vitest";
import { MongoDedupStore, MongoEventStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, mongodbUrl } from "./mongo-fixture.js";

/**
 * Driver options of every kit store: a small pool (many instances share one server on a busy
 * machine), and on the file's own FerretDB a 2 s server selection, so a call fails well within
 * the kit's limit (a case timeout / 8) while the server is down.
 */
const CLIENT_OPTIONS = { maxPoolSize: 4 };
const OWN_SERVER_CLIENT_OPTIONS = { ...CLIENT_OPTIONS, serverSelectionTimeoutMS: 2_000 };

/**
 * Conformance harnesses: every case gets a database of its own (dropped after it); every store
 * instance gets a client of its own (its connection string), like another process would.
 *
 * Without MONGODB_URL they run on a FerretDB of the test file's own, which `crash` SIGKILLs and
 * starts again on its data directory, and `breakBackend` SIGKILLs until restored (the FerretDB
 * every other file shares is never killed). On a MONGODB_URL server, which the tests do not own,
 * the kit abandons stores instead of crashing them and skips the backend-failure cases.
 */
export function useKitHarnesses(server: MongoServerKind): {
  events: EventStoreHarness;
  dedup: DedupStoreHarness;
} {
  const own = process.env.MONGODB_URL
    ? undefined
    : useOwnServer(() => RestartableServer.ferretdb());
  const url = async () => (own === undefined ? mongodbUrl : (await own()).url);
  const clientOptions = own === undefined ? CLIENT_OPTIONS : OWN_SERVER_CLIENT_OPTIONS;
  let admin: MongoClient | undefined;
  afterAll(async () => {
    await admin?.close();
  });
  const databaseOf = new WeakMap<object, string>();
  const common = async (database: string, clock: Clock) => ({
    connection: await url(),
    database,
    clock,
    server,
    clientOptions,
  });
  const eventStore = async (database: string, clock: Clock, retention?: Retention) => {
    const store = new MongoEventStore({
      ...(await common(database, clock)),
      ...(retention === undefined ? {} : { retention }),
    });
    databaseOf.set(store, database);
    return store;
  };
  const dedupStore = async (database: string, clock: Clock) => {
    const store = new MongoDedupStore(await common(database, clock));
    databaseOf.set(store, database);
    return store;
  };
  const destroy = async (store: object) => {
    const database = databaseOf.get(store);
    if (database === undefined) return;
    admin ??= new MongoClient(await url(), { maxPoolSize: 20 });
    await admin.db(database).dropDatabase();
  };
  const hooks =
    own === undefined
      ? {}
      : {
          /** A crash of the server: SIGKILL, then FerretDB again on its data directory. */
          crash: async () => (await own()).crash(),
          /** The server SIGKILLed until restored: connections refused, nothing runs later. */
          breakBackend: async () => {
            const running = await own();
            await running.kill();
            return { restore: () => running.start() };
          },
        };
  return {
    events: {
      create: async ({ clock, retention }) => eventStore(isolatedDatabase("kit"), clock, retention),
      reopen: async (store, { clock, retention }) =>
        eventStore(databaseOf.get(store)!, clock, retention),
      destroy,
      ...hooks,
    },
    dedup: {
      create: async ({ clock }) => dedupStore(isolatedDatabase("kitdedup"), clock),
      reopen: async (store, { clock }) => dedupStore(databaseOf.get(store)!, clock),
      destroy,
      ...hooks,
    },
  };
}
