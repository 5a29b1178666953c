import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BackendOutage, DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import { FileDedupStore } from "./file-dedup-store.js";
import { FileEventStore } from "./file-event-store.js";

/** The name the conformance report uses. */
export const name = "file stores (example)";

/** Which directory each store works in, so reopen and destroy can find it. */
const directories = new WeakMap<object, string>();

async function freshDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), "assured-file-store-"));
}

/**
 * A crash of these stores is their abandonment: every write is fsynced before it resolves and
 * nothing is buffered, so dropping the object without `close()` is all a killed process leaves.
 */
async function crash(): Promise<void> {}

/**
 * Takes the store's directory away, as an unmounted volume would: moved aside, with a plain file
 * in its place so every file operation fails (ENOTDIR); restore puts it back.
 */
async function breakBackend(store: object): Promise<BackendOutage> {
  const directory = directories.get(store)!;
  const aside = `${directory}.away`;
  await rename(directory, aside);
  await writeFile(directory, "");
  return {
    async restore() {
      await rm(directory);
      await rename(aside, directory);
    },
  };
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
  crash,
  breakBackend,
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
  crash,
  breakBackend,
};

/** The stores the chaos harness opens on a directory (see `chaos` below). */
export interface ChaosStores {
  eventStore: FileEventStore;
  dedupStore: FileDedupStore;
  close(): Promise<void>;
}

/**
 * For `pnpm chaos --store src/harness.ts`: the chaos harness runs a node process on these
 * stores, SIGKILLs it and starts it again, so unlike the harnesses above (fresh data per case)
 * it opens the same `directory` every time. Each start of the node calls `open` once; the test
 * process calls it again to read the logs once the load has stopped.
 */
export const chaos = {
  async open({ directory }: { directory: string }): Promise<ChaosStores> {
    const eventStore = new FileEventStore({ directory: join(directory, "events") });
    const dedupStore = new FileDedupStore({ directory: join(directory, "dedup") });
    return {
      eventStore,
      dedupStore,
      async close() {
        await Promise.all([eventStore.close(), dedupStore.close()]);
      },
    };
  },
};
