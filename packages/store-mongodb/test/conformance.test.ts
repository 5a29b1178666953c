import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { useKitHarnesses } from "./kit-harness.js";

// The server's own code path: "auto" detects FerretDB (point lookups, sweep) or MongoDB.
// The kit's default 50 instances for the cross-instance cases, as for every store.
const harnesses = useKitHarnesses("auto");

describeEventStore("MongoEventStore (detected server)", harnesses.events);
describeDedupStore("MongoDedupStore (detected server)", harnesses.dedup);
