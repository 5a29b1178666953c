import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { dedupStore, eventStore } from "./sqlite-harness.js";

describeEventStore("SqliteEventStore", eventStore);
describeDedupStore("SqliteDedupStore", dedupStore);
