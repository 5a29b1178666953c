// The harness module given to `npx assured-conformance` in the packaging test: the memory
// stores of @assured/core on a shared backend (instances made by reopen see the same data).

import type { DedupStoreHarness, EventStoreHarness } from "@assured/conformance";
import {
  breakMemoryBackend,
  createMemoryBackend,
  MemoryDedupStore,
  MemoryEventStore,
} from "@assured/core";

export const name = "memory stores from the packed @assured/core";

const backends = new WeakMap<object, ReturnType<typeof createMemoryBackend>>();

async function breakBackend(store: object) {
  const outage = breakMemoryBackend(backends.get(store)!);
  return { restore: async () => outage.restore() };
}

export const eventStore: EventStoreHarness = {
  async create({ clock, retention }) {
    const backend = createMemoryBackend();
    const store = new MemoryEventStore({ clock, backend, ...(retention ? { retention } : {}) });
    backends.set(store, backend);
    return store;
  },
  async reopen(store, { clock, retention }) {
    const backend = backends.get(store)!;
    const again = new MemoryEventStore({ clock, backend, ...(retention ? { retention } : {}) });
    backends.set(again, backend);
    return again;
  },
  breakBackend,
};

export const dedupStore: DedupStoreHarness = {
  async create({ clock }) {
    const backend = createMemoryBackend();
    const store = new MemoryDedupStore({ clock, backend });
    backends.set(store, backend);
    return store;
  },
  async reopen(store, { clock }) {
    const backend = backends.get(store)!;
    const again = new MemoryDedupStore({ clock, backend });
    backends.set(again, backend);
    return again;
  },
  breakBackend,
};
