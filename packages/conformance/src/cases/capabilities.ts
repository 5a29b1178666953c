import type { EventStore, EventStoreCapabilities, Retention } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { entries } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";
import { declaredLackCases } from "./declared-lacks.js";

type RetentionCapability = "retentionByAge" | "retentionByLength";

const RETENTION_PROBES: Record<RetentionCapability, { option: string; retention: Retention }> = {
  retentionByAge: { option: "maxAgeMs", retention: { maxAgeMs: 1_000 } },
  retentionByLength: { option: "maxLength", retention: { maxLength: 2 } },
};

/** The error `create` threw, or undefined when it made a store (kept in `made`). */
async function tryCreate(
  create: () => Promise<EventStore>,
  made: { store?: EventStore },
): Promise<unknown> {
  try {
    made.store = await create();
    return undefined;
  } catch (error) {
    return error;
  }
}

function isInvalidArgument(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown } | null;
  return (
    typeof e === "object" &&
    e !== null &&
    e.name === "AssuredError" &&
    e.code === "INVALID_ARGUMENT"
  );
}

/**
 * Declared capabilities are checked, not trusted: a store that declares a lack must really lack
 * it (a reopened instance of a non-persistent store keeps nothing; a second instance of a
 * non-persistent, non-shared store open at the same time sees nothing), and a retention the
 * store does not support must be refused with `INVALID_ARGUMENT` rather than accepted and
 * ignored.
 */
export function describeCapabilities(harness: EventStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("capabilities (declared, then checked)", () => {
    const stores = useEventStores(harness);

    declaredLackCases(
      stores,
      {
        none: "nothing",
        trace: "the data",
        seen: "its append",
        write: async (store) => void (await store.append("capability-probe", entries(1))),
        sees: async (store) => (await store.head("capability-probe")).head > 0,
      },
      timeout,
    );

    for (const capability of Object.keys(RETENTION_PROBES) as RetentionCapability[]) {
      const { option, retention } = RETENTION_PROBES[capability];
      it(
        `${capability}: a store that declares ${capability}: false refuses ${option} with INVALID_ARGUMENT`,
        async () => {
          const plain = await stores.create();
          const declared: EventStoreCapabilities = plain.capabilities;
          if (declared[capability]) {
            return; // nothing to probe: the retention cases check it
          }
          const made: { store?: EventStore } = {};
          const error = await tryCreate(() => stores.create(retention), made);
          if (made.store === undefined) {
            expect(
              isInvalidArgument(error),
              `the store declares capabilities.${capability}: false and create({ retention: { ${option} } }) threw, but not an AssuredError INVALID_ARGUMENT: ${String(error)}`,
            ).toBe(true);
            return;
          }
          const store = made.store;
          const [first] = await store.append("s", entries(3));
          stores.clock.advance(5_000);
          const { earliest } = await store.head("s");
          expect.fail(
            earliest > (first?.offset ?? 1)
              ? `the store declares capabilities.${capability}: false, but it applies ${option}: declare ${capability}: true`
              : `the store declares capabilities.${capability}: false, but it accepted ${option} and ignored it: refuse a retention it does not support with AssuredError INVALID_ARGUMENT (or implement it and declare ${capability}: true)`,
          );
        },
        timeout,
      );
    }
  });
}
