import { describeDedupStore, describeEventStore } from "@assured/conformance";
import { useKitHarnesses } from "./kit-harness.js";

// Each instance is a pool of its own (a few server processes): 6 instances keep the
// cross-instance cases on several connections without starving a 2-core machine.
const harnesses = useKitHarnesses();

describeEventStore("PostgresEventStore", harnesses.events, { instances: 6 });
describeDedupStore("PostgresDedupStore", harnesses.dedup, { instances: 6 });
