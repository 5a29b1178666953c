import { describe, expect, it } from "vitest";
import { harnessesOf } from "../src/index.js";
import { runFixture } from "./run-fixture.js";

const harness = { create: async () => ({}) };

describe("a harness module exports both harnesses, or says which it omits and why", () => {
  it("refuses a module with one harness and no omit, saying exactly what to export", () => {
    expect(() => harnessesOf({ eventStore: harness }, "m.ts")).toThrow(
      'm.ts exports "eventStore" but not "dedupStore". Export "dedupStore" (a DedupStoreHarness), or say why it is left out: export const omit = { dedupStore: "this package only ships an event store" }.',
    );
    expect(() => harnessesOf({ default: { dedupStore: harness } }, "m.ts")).toThrow(
      /exports "dedupStore" but not "eventStore"\. Export "eventStore" \(an EventStoreHarness\)/,
    );
  });

  it("accepts one harness with the other omitted for a reason, named or in the default export", () => {
    const omit = { dedupStore: "this package only ships an event store" };
    expect(harnessesOf({ eventStore: harness, omit }, "m.ts")).toMatchObject({ omit });
    expect(harnessesOf({ default: { eventStore: harness, omit } }, "m.ts")).toMatchObject({
      omit,
    });
  });

  it("refuses an omit without a reason, of an unknown harness, or of an exported one", () => {
    const code = { code: "INVALID_ARGUMENT" };
    for (const omit of [{ dedupStore: "" }, { dedupStore: 1 }, { stores: "x" }, "dedupStore"]) {
      expect(() => harnessesOf({ eventStore: harness, omit }, "m.ts")).toThrow(
        expect.objectContaining(code),
      );
    }
    expect(() =>
      harnessesOf({ eventStore: harness, dedupStore: harness, omit: { dedupStore: "x" } }, "m.ts"),
    ).toThrow(/exports "dedupStore" and also omits it/);
  });

  it("reports a module with one harness and no omit as an error of the run", async () => {
    const summary = await runFixture("event-store-only.ts");
    expect(summary.ok).toBe(false);
    expect(summary.cases).toEqual([]);
    expect(summary.errors.join("\n")).toMatch(
      /exports "eventStore" but not "dedupStore".*export const omit = \{ dedupStore:/,
    );
  });

  it("lists an omitted harness as a skip with the module's reason", async () => {
    const summary = await runFixture("broken-epoch.ts");
    expect(summary.cases).toContainEqual({
      name: "DedupStore conformance: test/fixtures/broken-epoch.ts > omitted by the module",
      state: "skipped",
      reason: 'the module omits "dedupStore": a broken event store only',
    });
  });
});
