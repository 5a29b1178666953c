/**
 * The conformance harnesses of the SQLite stores: each `create` gets a new temp file, `reopen`
 * opens a new connection on the same file, `destroy` deletes it. Used by conformance.test.ts,
 * and a module the `assured-conformance` CLI can run as it is.
 *
 * - `crash`: a child process takes the file's write lock and leaves an uncommitted transaction
 *   in the WAL (every row deleted, pages spilled); the crashed store's connection is dropped
 *   without the store's `close()` (nothing it queued is written), then the child is SIGKILLed.
 *   With no connection left, the next one must recover the file from the WAL: committed data
 *   only.
 * - `breakBackend`: a child process holds `BEGIN EXCLUSIVE` until restore SIGKILLs it. Writes
 *   fail with SQLITE_BUSY after the store's busy timeout (250 ms here); reads go on (WAL mode),
 *   so the outage is `readable`.
 */
import type { BackendOutage, DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import type { DedupStore, EventStore } from "@assured/core/store";
import type { SqliteConnection } from "../src/connection.js";
import { SqliteDedupStore, SqliteEventStore } from "../src/index.js";
import { holdFile } from "./support/file-holder.js";
import { type TempDatabase, tempDatabase } from "./support/temp-database.js";
import { walEndsUncommitted } from "./support/wal-commits.js";

/** How long a write waits for a lock before STORE_UNAVAILABLE: short, for `breakBackend`. */
const BUSY_TIMEOUT_MS = 250;

type Store = EventStore | DedupStore;

const files = new WeakMap<Store, TempDatabase>();

function fileOf(store: Store): TempDatabase {
  const file = files.get(store);
  if (file === undefined) throw new Error("store not made by this harness");
  return file;
}

function track<S extends Store>(store: S, file: TempDatabase): S {
  files.set(store, file);
  return store;
}

/**
 * Kills a writer mid-transaction and drops `store`'s connection as the death of its process
 * would: the handle is closed under the store (a test reaching into its private connection),
 * so nothing the store itself would do in `close()` happens.
 */
async function crash(store: Store): Promise<void> {
  const { path } = fileOf(store);
  const writer = await holdFile(path, "write");
  (store as unknown as { connection: SqliteConnection }).connection.db.close();
  await writer.kill();
  if (!walEndsUncommitted(`${path}-wal`)) {
    throw new Error("the killed writer left no uncommitted frames in the WAL to recover from");
  }
}

/** Locks the file for writing from another process until restored. */
async function breakBackend(store: Store): Promise<BackendOutage> {
  const holder = await holdFile(fileOf(store).path, "lock");
  return { readable: true, restore: () => holder.kill() };
}

/** The suite name. */
export const name = "@assured/store-sqlite";

/** SqliteEventStore on a fresh temp file per case. */
export const eventStore: EventStoreHarness = {
  async create({ clock, retention }) {
    const file = tempDatabase();
    const options = { path: file.path, clock, retention, busyTimeoutMs: BUSY_TIMEOUT_MS };
    return track(new SqliteEventStore(options), file);
  },
  async reopen(store, { clock, retention }) {
    const file = fileOf(store);
    const options = { path: file.path, clock, retention, busyTimeoutMs: BUSY_TIMEOUT_MS };
    return track(new SqliteEventStore(options), file);
  },
  async destroy(store) {
    fileOf(store).remove();
  },
  crash,
  breakBackend,
};

/** SqliteDedupStore on a fresh temp file per case. */
export const dedupStore: DedupStoreHarness = {
  async create({ clock }) {
    const file = tempDatabase();
    const options = { path: file.path, clock, busyTimeoutMs: BUSY_TIMEOUT_MS };
    return track(new SqliteDedupStore(options), file);
  },
  async reopen(store, { clock }) {
    const file = fileOf(store);
    const options = { path: file.path, clock, busyTimeoutMs: BUSY_TIMEOUT_MS };
    return track(new SqliteDedupStore(options), file);
  },
  async destroy(store) {
    fileOf(store).remove();
  },
  crash,
  breakBackend,
};
