import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { describeDedupStore, describeEventStore } from "../src/index.js";
import { dedupStore, eventStore } from "./fixtures/memory-harness.js";

describeEventStore("MemoryEventStore, shared backend", eventStore);
describeDedupStore("MemoryDedupStore, shared backend", dedupStore);

describeEventStore("MemoryEventStore, private (no reopen)", {
  create: async ({ clock, retention }) => new MemoryEventStore({ clock, retention }),
});
describeDedupStore("MemoryDedupStore, private (no reopen)", {
  create: async ({ clock }) => new MemoryDedupStore({ clock }),
});
