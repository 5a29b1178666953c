import { describe, expect, it } from "vitest";
import {
  assertEpoch,
  assertKnownOptions,
  assertLimit,
  assertOffset,
  assertPosition,
  assertStreamName,
  MAX_STREAM_NAME_LENGTH,
} from "../src/validate.js";

const code = (c: string) => expect.objectContaining({ code: c });

describe("validation (G12)", () => {
  it("accepts hostile but valid stream names", () => {
    for (const name of [
      "*",
      "{x}",
      "a\nb",
      `"'`,
      "$where",
      "../",
      "😀".repeat(MAX_STREAM_NAME_LENGTH),
    ]) {
      expect(() => assertStreamName(name)).not.toThrow();
    }
  });

  it("rejects empty, non-string, too long and malformed stream names", () => {
    for (const bad of [
      "",
      1,
      null,
      undefined,
      {},
      "x".repeat(MAX_STREAM_NAME_LENGTH + 1),
      "\uD800",
    ]) {
      expect(() => assertStreamName(bad)).toThrowError(code("INVALID_STREAM"));
    }
  });

  it("rejects negative, fractional, NaN, infinite and unsafe offsets", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "1", null]) {
      expect(() => assertOffset(bad)).toThrowError(code("INVALID_OFFSET"));
    }
    expect(() => assertOffset(0)).not.toThrow();
  });

  it("bounds read limits", () => {
    expect(() => assertLimit(0)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertLimit(10_001)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertLimit(10)).not.toThrow();
  });

  it("checks epochs and positions", () => {
    expect(() => assertEpoch("x".repeat(129))).toThrowError(code("INVALID_EPOCH"));
    expect(() => assertEpoch(5)).toThrowError(code("INVALID_EPOCH"));
    expect(() => assertPosition({ epoch: "e", offset: -1 })).toThrowError(code("INVALID_OFFSET"));
    expect(() => assertPosition("e:1")).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertPosition({ epoch: "e", offset: 3 })).not.toThrow();
  });

  it("refuses unknown option names, naming the option, the owner and the type to see", () => {
    const known = ["clock", "maxEntries"];
    expect(() => assertKnownOptions({}, known, "Store", "StoreOptions")).not.toThrow();
    expect(() =>
      assertKnownOptions({ clock: Date.now, maxEntries: undefined }, new Set(known), "S", "T"),
    ).not.toThrow();
    expect(() => assertKnownOptions({ maxEntry: 5 }, known, "Store", "StoreOptions")).toThrowError(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message:
          'unknown option "maxEntry" of Store — did you mean "maxEntries"? (see StoreOptions).',
      }),
    );
    // A key close to no known one gets no suggestion.
    expect(() => assertKnownOptions({ bogus: undefined }, new Set(known), "S", "T")).toThrowError(
      expect.objectContaining({ message: 'unknown option "bogus" of S (see T).' }),
    );
    // A long key is described, not echoed.
    expect(() => assertKnownOptions({ ["k".repeat(1000)]: 1 }, known, "S", "T")).toThrowError(
      expect.objectContaining({ message: "unknown option a 1000-character string of S (see T)." }),
    );
    for (const bad of [null, 5, "x", [], undefined]) {
      expect(() => assertKnownOptions(bad, known, "S", "T")).toThrowError(code("INVALID_ARGUMENT"));
    }
  });
});
