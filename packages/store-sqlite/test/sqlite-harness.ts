/**
 * The conformance harnesses of the SQLite stores: each `create` gets a new temp file, `reopen`
 * opens a new connection on the same file, `destroy` deletes it. Used by conformance.test.ts,
 * and a module the `assured-conformance` CLI can run as it is.
 */
import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import type { DedupStore, EventStore } from "@assured/core";
import { SqliteDedupStore, SqliteEventStore } from "../src/index.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";

const files = new WeakMap<EventStore | DedupStore, TempDatabase>();

function fileOf(store: EventStore | DedupStore): TempDatabase {
  const file = files.get(store);
  if (file === undefined) throw new Error("store not made by this harness");
  return file;
}

/** The suite name. */
export const name = "@assured/store-sqlite";

/** SqliteEventStore on a fresh temp file per case. */
export const eventStore: EventStoreHarness = {
  async create({ clock, retention }) {
    const file = tempDatabase();
    const store = new SqliteEventStore({ path: file.path, clock, retention });
    files.set(store, file);
    return store;
  },
  async reopen(store, { clock, retention }) {
    const file = fileOf(store);
    const again = new SqliteEventStore({ path: file.path, clock, retention });
    files.set(again, file);
    return again;
  },
  async destroy(store) {
    fileOf(store).remove();
  },
};

/** SqliteDedupStore on a fresh temp file per case. */
export const dedupStore: DedupStoreHarness = {
  async create({ clock }) {
    const file = tempDatabase();
    const store = new SqliteDedupStore({ path: file.path, clock });
    files.set(store, file);
    return store;
  },
  async reopen(store, { clock }) {
    const file = fileOf(store);
    const again = new SqliteDedupStore({ path: file.path, clock });
    files.set(again, file);
    return again;
  },
  async destroy(store) {
    fileOf(store).remove();
  },
};
