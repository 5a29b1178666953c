import { describe } from "vitest";
import { describeBackendFailure } from "./cases/backend-failure.js";
import { describeCapabilities } from "./cases/capabilities.js";
import { describeClose } from "./cases/close.js";
import { describeConcurrency } from "./cases/concurrency.js";
import { describeHostileNames } from "./cases/hostile-names.js";
import { describeIdempotency } from "./cases/idempotency.js";
import { describeInvalidArguments } from "./cases/invalid-arguments.js";
import { describeEventStoreModel } from "./cases/model-event-store.js";
import { describeOffsets } from "./cases/offsets.js";
import { describePayloads } from "./cases/payloads.js";
import { describeReads } from "./cases/reads.js";
import { describeReset } from "./cases/reset.js";
import { describeRestart } from "./cases/restart.js";
import { describeRetention } from "./cases/retention.js";
import { describeTrimmedIds } from "./cases/trimmed-ids.js";
import type { EventStoreHarness, SuiteOptions } from "./harness.js";

/**
 * The whole `EventStore` conformance suite, as vitest `describe` blocks. Call it at the top of
 * a test file. Cases the store cannot run (by its declared capabilities) are skipped with the
 * reason; a declared lack is probed, and a declared capability the harness cannot check (no
 * `reopen`, fewer than 2 `instances`) fails.
 *
 * @example
 * import { describeEventStore } from "@assured/conformance";
 * describeEventStore("MyStore", { create: async ({ clock, retention }) => new MyStore({ clock, retention }) });
 */
export function describeEventStore(
  name: string,
  harness: EventStoreHarness,
  options: SuiteOptions = {},
): void {
  describe(`EventStore conformance: ${name}`, () => {
    describeOffsets(harness, options);
    describeReads(harness, options);
    describeIdempotency(harness, options);
    describeConcurrency(harness, options);
    describeRestart(harness, options);
    describeBackendFailure(harness, options);
    describeReset(harness, options);
    describeRetention(harness, options);
    describeTrimmedIds(harness, options);
    describePayloads(harness, options);
    describeHostileNames(harness, options);
    describeInvalidArguments(harness, options);
    describeClose(harness, options);
    describeCapabilities(harness, options);
    describeEventStoreModel(harness, options);
  });
}
