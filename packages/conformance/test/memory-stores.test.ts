import { describeDedupStore, describeEventStore } from "../src/index.js";
import { dedupStore, eventStore } from "./fixtures/memory-harness.js";

describeEventStore("MemoryEventStore, shared backend", eventStore);
describeDedupStore("MemoryDedupStore, shared backend", dedupStore);
