import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { useKitHarnesses } from "./kit-harness.js";

// The server's own code path: "auto" detects FerretDB (point lookups, sweep) or MongoDB.
// 25 instances for the cross-instance cases (the kit's default is 50): each is a client of its
// own, and the Mongo-wire test server (FerretDB on SQLite) needs most of the case's 30 s for 50
// when the machine is busy. 25 clients still interleave 50 appenders and three readers.
const harnesses = useKitHarnesses("auto");
const options = process.env.MONGODB_URL ? {} : { instances: 25 };

describeEventStore("MongoEventStore (detected server)", harnesses.events, options);
describeDedupStore("MongoDedupStore (detected server)", harnesses.dedup, options);
