import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import type { Clock, Retention } from "@assured/core/store";
import { RestartablePostgres, useOwnServer } from "@assured/test-services";
import { PostgresDedupStore, PostgresEventStore } from "../src/index.js";
import { isolatedSchema, postgresUrl, useAdminPool } from "./fixture.js";

/** Every kit store gets a small pool of its own: many instances share one server. */
const POOL_OPTIONS = { max: 3, connectionTimeoutMillis: 2_000 };

/**
 * Conformance harnesses: every case gets a schema of its own (dropped after it); every store
 * instance gets a pool of its own (its connection string), like another process would.
 *
 * Without POSTGRES_URL they run on a server of the test file's own: `crash` SIGKILLs it (with
 * every backend) and starts it again on its data directory (crash recovery replays the WAL);
 * `breakBackend` SIGKILLs it until restored, so connections are refused and nothing sent
 * during the outage runs later. On a POSTGRES_URL server, which the tests do not own, the kit
 * abandons stores instead and skips the backend-failure cases.
 */
export function useKitHarnesses(): { events: EventStoreHarness; dedup: DedupStoreHarness } {
  const own = process.env.POSTGRES_URL
    ? undefined
    : useOwnServer(() => RestartablePostgres.start());
  const url = async () => (own === undefined ? postgresUrl : (await own()).url);
  const admin = useAdminPool(url);
  const schemaOf = new WeakMap<object, string>();
  const common = async (schema: string, clock: Clock) => ({
    connection: await url(),
    schema,
    clock,
    poolOptions: POOL_OPTIONS,
  });
  const eventStore = async (schema: string, clock: Clock, retention?: Retention) => {
    const store = new PostgresEventStore({
      ...(await common(schema, clock)),
      ...(retention === undefined ? {} : { retention }),
    });
    schemaOf.set(store, schema);
    return store;
  };
  const dedupStore = async (schema: string, clock: Clock) => {
    const store = new PostgresDedupStore({ ...(await common(schema, clock)), sweepIntervalMs: 0 });
    schemaOf.set(store, schema);
    return store;
  };
  const destroy = async (store: object) => {
    const schema = schemaOf.get(store);
    if (schema === undefined) return;
    await (await admin()).query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };
  const hooks =
    own === undefined
      ? {}
      : {
          /** A crash of the server: SIGKILL of every process, then again on its data. */
          crash: async () => (await own()).crash(),
          /** The server SIGKILLed until restored: connections refused, nothing runs later. */
          breakBackend: async () => {
            const running = await own();
            await running.kill();
            return { restore: () => running.restart() };
          },
        };
  return {
    events: {
      create: async ({ clock, retention }) => eventStore(isolatedSchema("kit"), clock, retention),
      reopen: async (store, { clock, retention }) =>
        eventStore(schemaOf.get(store)!, clock, retention),
      destroy,
      ...hooks,
    },
    dedup: {
      create: async ({ clock }) => dedupStore(isolatedSchema("kitdedup"), clock),
      reopen: async (store, { clock }) => dedupStore(schemaOf.get(store)!, clock),
      destroy,
      ...hooks,
    },
  };
}
