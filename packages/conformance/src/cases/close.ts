import { describe, it } from "vitest";
import { expectAssuredError } from "../assertions.js";
import { entry } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

/** Close: idempotent, and every method rejects with `STORE_CLOSED` afterwards. */
export function describeClose(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("close", () => {
    const stores = useEventStores(harness);

    it(
      "rejects every method with STORE_CLOSED after close, which may be called twice",
      async () => {
        const store = await stores.create();
        await store.append("s", [entry("a")]);
        await store.close();
        await store.close();
        await expectAssuredError(() => store.append("s", [entry("b")]), "STORE_CLOSED", "append");
        await expectAssuredError(
          () => store.read("s", { after: 0, limit: 1 }),
          "STORE_CLOSED",
          "read",
        );
        await expectAssuredError(() => store.head("s"), "STORE_CLOSED", "head");
        await expectAssuredError(() => store.reset("s"), "STORE_CLOSED", "reset");
      },
      timeout,
    );
  });
}
