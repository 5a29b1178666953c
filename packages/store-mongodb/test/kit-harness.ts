import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import type { Clock, Retention } from "@assured/core";
import { MongoDedupStore, MongoEventStore, type MongoServerKind } from "../src/index.js";
import { isolatedDatabase, mongodbUrl, useClient } from "./mongo-fixture.js";

/**
 * Conformance harnesses: every case gets a database of its own (dropped after it); every store
 * instance gets a client of its own (its connection string), like another process would.
 */
export function useKitHarnesses(server: MongoServerKind): {
  events: EventStoreHarness;
  dedup: DedupStoreHarness;
} {
  const client = useClient();
  const databaseOf = new WeakMap<object, string>();
  const common = (database: string, clock: Clock) => ({
    connection: mongodbUrl,
    database,
    clock,
    server,
    clientOptions: { maxPoolSize: 4 },
  });
  const eventStore = (database: string, clock: Clock, retention?: Retention) => {
    const store = new MongoEventStore({
      ...common(database, clock),
      ...(retention === undefined ? {} : { retention }),
    });
    databaseOf.set(store, database);
    return store;
  };
  const dedupStore = (database: string, clock: Clock) => {
    const store = new MongoDedupStore(common(database, clock));
    databaseOf.set(store, database);
    return store;
  };
  const destroy = async (store: object) => {
    const database = databaseOf.get(store);
    if (database !== undefined) await client().db(database).dropDatabase();
  };
  return {
    events: {
      create: async ({ clock, retention }) => eventStore(isolatedDatabase("kit"), clock, retention),
      reopen: async (store, { clock, retention }) =>
        eventStore(databaseOf.get(store)!, clock, retention),
      destroy,
    },
    dedup: {
      create: async ({ clock }) => dedupStore(isolatedDatabase("kitdedup"), clock),
      reopen: async (store, { clock }) => dedupStore(databaseOf.get(store)!, clock),
      destroy,
    },
  };
}
