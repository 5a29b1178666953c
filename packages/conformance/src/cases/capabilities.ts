import type { EventStore, EventStoreCapabilities, Retention } from "@assured/core";
import { describe, expect, it } from "vitest";
import { entries } from "../entries.js";
import { useEventStores } from "../fixtures.js";
import type { EventStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

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

/**
 * A second instance on the same data while the first is open, or undefined when the harness or
 * store refuses one (a store that is not shared may lock its data).
 */
export async function openSecond<S>(reopen: () => Promise<S>): Promise<S | undefined> {
  try {
    return await reopen();
  } catch {
    return undefined;
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

    it(
      "persistent: a store that declares persistent: false keeps nothing in a reopened instance",
      async (context) => {
        const store = await stores.create();
        if (store.capabilities.persistent) {
          return; // nothing to probe: the restart cases check the declared persistence
        }
        if (!stores.canReopen) {
          context.skip(
            "the store declares capabilities.persistent: false and the harness has no reopen()",
          );
        }
        await store.append("capability-probe", entries(1));
        await store.close();
        const reopened = await stores.reopen(store);
        const { head } = await reopened.head("capability-probe");
        expect(
          head,
          "the store declares capabilities.persistent: false, but a reopened instance kept the data: declare persistent: true (the restart cases then check it)",
        ).toBe(0);
      },
      timeout,
    );

    it(
      "sharedAcrossInstances: a non-persistent store that declares sharedAcrossInstances: false shows nothing to a second instance open at the same time",
      async (context) => {
        const store = await stores.create();
        if (store.capabilities.sharedAcrossInstances) {
          return; // nothing to probe: the cross-instance cases check the declared sharing
        }
        if (store.capabilities.persistent) {
          // A persistent store that is not shared (one process at a time, re-reading its files
          // on each call) shows a second instance the data too: seeing proves no sharing here.
          return;
        }
        if (!stores.canReopen) {
          context.skip(
            "the store declares capabilities.sharedAcrossInstances: false and the harness has no reopen()",
          );
        }
        const second = await openSecond(() => stores.reopen(store));
        if (second === undefined) return; // it refuses a second instance: not shared indeed
        await store.append("capability-probe", entries(1));
        const { head } = await second.head("capability-probe");
        expect(
          head,
          "the store declares capabilities.sharedAcrossInstances: false, but a second instance opened on the same data while the first was open saw its append: declare sharedAcrossInstances: true (the cross-instance cases then check it)",
        ).toBe(0);
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
