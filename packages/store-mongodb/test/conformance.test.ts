import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { useKitHarnesses } from "./kit-harness.js";

// The server's own code path: "auto" detects FerretDB (point lookups, sweep) or MongoDB.
// Ten instances for the cross-instance cases (the kit's option for heavy connections).
const harnesses = useKitHarnesses("auto");

describeEventStore("MongoEventStore (detected server)", harnesses.events, { instances: 10 });
describeDedupStore("MongoDedupStore (detected server)", harnesses.dedup, { instances: 10 });
