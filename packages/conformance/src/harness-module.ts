import { AssuredError } from "@assured/core";
import { describeDedupStore } from "./describe-dedup-store.js";
import { describeEventStore } from "./describe-event-store.js";
import type { DedupStoreHarness, EventStoreHarness, SuiteOptions } from "./harness.js";

/**
 * What a module given to the `assured-conformance` CLI exports: `eventStore` and/or
 * `dedupStore` harnesses, as named exports or as properties of the default export, plus an
 * optional `name` and `options`.
 *
 * @example
 * // my-store.conformance.ts
 * export const name = "MyStore";
 * export const eventStore: EventStoreHarness = { create: async ({ clock }) => new MyStore({ clock }) };
 * export const dedupStore: DedupStoreHarness = { create: async ({ clock }) => new MyDedup({ clock }) };
 */
export interface HarnessModule {
  eventStore?: EventStoreHarness;
  dedupStore?: DedupStoreHarness;
  name?: string;
  options?: SuiteOptions;
}

function isHarness(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { create?: unknown }).create === "function"
  );
}

/**
 * Reads the harnesses out of an imported module. Throws `INVALID_ARGUMENT` with what to export
 * when the module has no usable harness or a malformed one.
 */
export function harnessesOf(imported: Record<string, unknown>, source: string): HarnessModule {
  const fallback = imported.default;
  const from =
    imported.eventStore === undefined &&
    imported.dedupStore === undefined &&
    typeof fallback === "object" &&
    fallback !== null
      ? (fallback as Record<string, unknown>)
      : imported;
  const found: HarnessModule = {};
  for (const key of ["eventStore", "dedupStore"] as const) {
    const value = from[key];
    if (value === undefined) continue;
    if (!isHarness(value)) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `${source}: export "${key}" must be an object with create({ clock }) returning a store.`,
      );
    }
    found[key] = value as never;
  }
  if (found.eventStore === undefined && found.dedupStore === undefined) {
    const names = Object.keys(imported).join(", ") || "nothing";
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${source} exports no harness (it exports ${names}). Export "eventStore" (an EventStoreHarness) and/or "dedupStore" (a DedupStoreHarness).`,
    );
  }
  if (typeof from.name === "string") found.name = from.name;
  if (typeof from.options === "object" && from.options !== null) {
    found.options = from.options as SuiteOptions;
  }
  return found;
}

/** Describes the suites for every harness a module exports (the CLI's generated test file calls it). */
export function describeHarnessModule(imported: Record<string, unknown>, source: string): void {
  const harnesses = harnessesOf(imported, source);
  const name = harnesses.name ?? source;
  if (harnesses.eventStore !== undefined) {
    describeEventStore(name, harnesses.eventStore, harnesses.options);
  }
  if (harnesses.dedupStore !== undefined) {
    describeDedupStore(name, harnesses.dedupStore, harnesses.options);
  }
}
