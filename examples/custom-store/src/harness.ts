import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import { FileDedupStore } from "./file-dedup-store.js";
import { FileEventStore } from "./file-event-store.js";

/** The name the conformance report uses. */
export const name = "file stores (example)";

/** Which directory each store works in, so reopen and destroy can find it. */
const directories = new WeakMap<object, string>();

async function freshDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), "assured-file-store-"));
}

/** Conformance harness for `FileEventStore`: a fresh temporary directory per case. */
export const eventStore: EventStoreHarness = {
  async create({ clock, retention }) {
    const directory = await freshDirectory();
    const store = new FileEventStore({ directory, clock, retention });
    directories.set(store, directory);
    return store;
  },
  async reopen(store, { clock, retention }) {
    const directory = directories.get(store)!;
    const again = new FileEventStore({ directory, clock, retention });
    directories.set(again, directory);
    return again;
  },
  async destroy(store) {
    await rm(directories.get(store)!, { recursive: true, force: true });
  },
};

/** Conformance harness for `FileDedupStore`. */
export const dedupStore: DedupStoreHarness = {
  async create({ clock }) {
    const directory = await freshDirectory();
    const store = new FileDedupStore({ directory, clock });
    directories.set(store, directory);
    return store;
  },
  async reopen(store, { clock }) {
    const directory = directories.get(store)!;
    const again = new FileDedupStore({ directory, clock });
    directories.set(again, directory);
    return again;
  },
  async destroy(store) {
    await rm(directories.get(store)!, { recursive: true, force: true });
  },
};
