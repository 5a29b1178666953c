import { AssuredError } from "@assured/core";
import { describe, it } from "vitest";
import { describeDedupStore } from "./describe-dedup-store.js";
import { describeEventStore } from "./describe-event-store.js";
import type { DedupStoreHarness, EventStoreHarness, SuiteOptions } from "./harness.js";

/** The two harnesses a module exports. */
export type HarnessName = "eventStore" | "dedupStore";

/** Which harness a module leaves out, and why (shown as a skip in the report). */
export type HarnessOmissions = Partial<Record<HarnessName, string>>;

/**
 * What a module given to the `assured-conformance` CLI exports: both the `eventStore` and the
 * `dedupStore` harness, or one of them and `omit` saying which is left out and why — as named
 * exports or as properties of the default export — plus an optional `name` and `options`.
 *
 * @example
 * // my-store.conformance.ts
 * export const name = "MyStore";
 * export const eventStore: EventStoreHarness = { create: async ({ clock }) => new MyStore({ clock }) };
 * export const omit = { dedupStore: "this package only ships an event store" };
 */
export interface HarnessModule {
  eventStore?: EventStoreHarness;
  dedupStore?: DedupStoreHarness;
  /** The harnesses left out, each with the reason. */
  omit?: HarnessOmissions;
  name?: string;
  options?: SuiteOptions;
}

const HARNESS_TYPES: Record<HarnessName, string> = {
  eventStore: "an EventStoreHarness",
  dedupStore: "a DedupStoreHarness",
};

function invalid(message: string): AssuredError {
  return new AssuredError("INVALID_ARGUMENT", message);
}

/** Reads and checks `omit`: an object naming harnesses, each with a non-empty reason. */
function omissionsOf(value: unknown, source: string): HarnessOmissions {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null) {
    throw invalid(`${source}: export "omit" must be an object like { dedupStore: "why" }.`);
  }
  const omit: HarnessOmissions = {};
  for (const [key, reason] of Object.entries(value)) {
    if (key !== "eventStore" && key !== "dedupStore") {
      throw invalid(
        `${source}: export "omit" may name only "eventStore" or "dedupStore", not "${key}".`,
      );
    }
    if (typeof reason !== "string" || reason.trim() === "") {
      throw invalid(
        `${source}: omit.${key} must say why the harness is left out (a non-empty string).`,
      );
    }
    omit[key] = reason;
  }
  return omit;
}

/** Throws unless each harness is either exported or omitted with a reason (not both). */
function checkCompleteness(found: HarnessModule, source: string): void {
  for (const key of ["eventStore", "dedupStore"] as const) {
    const reason = found.omit?.[key];
    if (found[key] !== undefined && reason !== undefined) {
      throw invalid(
        `${source} exports "${key}" and also omits it (omit.${key}); remove one of the two.`,
      );
    }
    if (found[key] === undefined && reason === undefined) {
      const other = key === "eventStore" ? "dedupStore" : "eventStore";
      throw invalid(
        `${source} exports "${other}" but not "${key}". Export "${key}" (${HARNESS_TYPES[key]}), or say why it is left out: export const omit = { ${key}: "this package only ships ${key === "eventStore" ? "a dedup store" : "an event store"}" }.`,
      );
    }
  }
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
 * when the module has no usable harness, a malformed one, or leaves one out without saying why
 * in `omit`.
 */
export function harnessesOf(imported: Record<string, unknown>, source: string): HarnessModule {
  const fallback = imported.default;
  const from =
    imported.eventStore === undefined &&
    imported.dedupStore === undefined &&
    imported.omit === undefined &&
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
      `${source} exports no harness (it exports ${names}). Export "eventStore" (an EventStoreHarness) and "dedupStore" (a DedupStoreHarness), or one of them and "omit" saying why the other is left out.`,
    );
  }
  const omit = omissionsOf(from.omit, source);
  if (Object.keys(omit).length > 0) found.omit = omit;
  checkCompleteness(found, source);
  if (typeof from.name === "string") found.name = from.name;
  if (typeof from.options === "object" && from.options !== null) {
    found.options = from.options as SuiteOptions;
  }
  return found;
}

/**
 * Describes the suites for every harness a module exports (the CLI's generated test file calls
 * it); `overrides` (the CLI's `--runs`, `--seed`) win over the module's own `options`.
 */
export function describeHarnessModule(
  imported: Record<string, unknown>,
  source: string,
  overrides: SuiteOptions = {},
): void {
  const harnesses = harnessesOf(imported, source);
  const name = harnesses.name ?? source;
  const options = { ...harnesses.options, ...overrides };
  if (harnesses.eventStore !== undefined) {
    describeEventStore(name, harnesses.eventStore, options);
  }
  if (harnesses.dedupStore !== undefined) {
    describeDedupStore(name, harnesses.dedupStore, options);
  }
  for (const [key, reason] of Object.entries(harnesses.omit ?? {})) {
    const suite = key === "eventStore" ? "EventStore" : "DedupStore";
    describe(`${suite} conformance: ${name}`, () => {
      it(`omitted by the module`, (context) => {
        context.skip(`the module omits "${key}": ${reason}`);
      });
    });
  }
}
