import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { beforeEach } from "vitest";
import { useKitHarnesses } from "./kit-harness.js";

// The MongoDB code path (range queries on _id) forced, so it is proven on FerretDB as well.
// Ten instances for the cross-instance cases: FerretDB scans for every range query.
const harnesses = useKitHarnesses("mongodb");

// That path's dedup takeovers are filtered updates, a compare-and-set on MongoDB only: FerretDB
// applies them non-atomically (which is why the detected path uses transition locks there), so
// a race of concurrent takeovers, or of a holder's renewal beside its own complete (the example
// case and the generated one: on FerretDB the two updates can lose each other), is proven
// by conformance.test.ts on FerretDB, and here only against a real MongoDB (MONGODB_URL).
const NEEDS_MONGODB =
  /concurrent claims (on \d+ instances )?after a lease expiry|racing claims win after a lease ended|while its own renewals? (is|and others' claims are) in flight/;
beforeEach((context) => {
  if (process.env.MONGODB_URL === undefined && NEEDS_MONGODB.test(context.task.name)) {
    context.skip("concurrent takeovers need MongoDB's compare-and-set updates");
  }
});

describeEventStore("MongoEventStore (MongoDB code path)", harnesses.events, { instances: 10 });
describeDedupStore("MongoDedupStore (MongoDB code path)", harnesses.dedup, { instances: 10 });
