import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { useKitHarnesses } from "./kit-harness.js";

// The MongoDB code path (range queries on _id) forced, so it is proven on FerretDB as well.
// Ten instances for the cross-instance cases: FerretDB scans for every range query.
const harnesses = useKitHarnesses("mongodb");

describeEventStore("MongoEventStore (MongoDB code path)", harnesses.events, { instances: 10 });
describeDedupStore("MongoDedupStore (MongoDB code path)", harnesses.dedup, { instances: 10 });
