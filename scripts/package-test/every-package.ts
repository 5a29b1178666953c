// Loads every published package's entry point (the store drivers are installed as their
// peers), so a missing file or a broken `exports` map fails at run time, not only in types.
import * as client from "@assured/client";
import type * as browserBundle from "@assured/client/browser";
import type { EventStoreHarness } from "@assured/conformance";
import type { runConformance } from "@assured/conformance/runner";
import * as core from "@assured/core";
import * as coreProtocol from "@assured/core/protocol";
import * as coreStore from "@assured/core/store";
import * as server from "@assured/server";
import * as mongodb from "@assured/store-mongodb";
import * as postgres from "@assured/store-postgres";
import * as redis from "@assured/store-redis";
import * as sqlite from "@assured/store-sqlite";

const stores = [
  redis.RedisEventStore,
  redis.RedisDedupStore,
  mongodb.MongoEventStore,
  mongodb.MongoDedupStore,
  postgres.PostgresEventStore,
  postgres.PostgresDedupStore,
  sqlite.SqliteEventStore,
  sqlite.SqliteDedupStore,
  core.MemoryEventStore,
  core.MemoryDedupStore,
];
const factories = [client.createAssuredClient, server.createAssuredServer];
/** The entries of @assured/core for store authors and for the bindings. */
const coreEntries = [coreStore.assertAppendEntries, coreProtocol.Sequencer];
/**
 * Entry points checked for their types only: the conformance kit's (they import vitest) and the
 * client's browser bundle.
 */
export type TypesOnly = [EventStoreHarness, typeof runConformance, typeof browserBundle];

console.log(
  `loaded ${stores.length} stores, ${factories.length} factories and ${coreEntries.length} more entries of @assured/core`,
);
