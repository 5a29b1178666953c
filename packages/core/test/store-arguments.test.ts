import { describe, expect, it } from "vitest";
import {
  assertClaimArguments,
  assertCompleteArguments,
  assertDedupKey,
  assertReleaseArguments,
  assertRenewArguments,
} from "../src/dedup-store-arguments.js";
import { assertReadOptions, assertRetention } from "../src/event-store-arguments.js";
import { assertText } from "../src/validate.js";

const code = (c: string) => expect.objectContaining({ name: "AssuredError", code: c });
const response = { ok: true, payload: new Uint8Array([1]) };

describe("store argument validators (G12)", () => {
  it("assertText counts code points, not UTF-16 units, and refuses lone surrogates", () => {
    expect(() => assertText("😀".repeat(4), "name", 4)).not.toThrow();
    expect(() => assertText("😀".repeat(5), "name", 4)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertText("a\uDC00", "name", 4)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertText("", "stream", 4, "INVALID_STREAM")).toThrowError(
      code("INVALID_STREAM"),
    );
  });

  it("dedup keys are 1 to 512 code points", () => {
    expect(() => assertDedupKey("🔑".repeat(512))).not.toThrow();
    for (const bad of ["", "k".repeat(513), "k\uD800", 7, null]) {
      expect(() => assertDedupKey(bad)).toThrowError(code("INVALID_ARGUMENT"));
    }
  });

  it("each dedup method's validator checks every one of its arguments", () => {
    const lease = { leaseMs: 1_000, fingerprint: "fp" };
    expect(() => assertClaimArguments("k", lease)).not.toThrow();
    expect(() => assertClaimArguments("", lease)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertClaimArguments("k", { leaseMs: 0, fingerprint: "fp" })).toThrowError(
      code("INVALID_ARGUMENT"),
    );
    expect(() => assertCompleteArguments("k", "t", response, { ttlMs: 1 })).not.toThrow();
    for (const [key, token, stored, options] of [
      ["", "t", response, { ttlMs: 1 }],
      ["k", "", response, { ttlMs: 1 }],
      ["k", "t", { ok: true, payload: [1] }, { ttlMs: 1 }],
      ["k", "t", response, { ttlMs: 0 }],
    ]) {
      expect(() => assertCompleteArguments(key, token, stored, options)).toThrowError(
        code("INVALID_ARGUMENT"),
      );
    }
    expect(() => assertReleaseArguments("k", "t")).not.toThrow();
    expect(() => assertReleaseArguments("k", 5)).toThrowError(code("INVALID_ARGUMENT"));
    expect(() => assertReleaseArguments(null, "t")).toThrowError(code("INVALID_ARGUMENT"));
  });

  it("a misspelled claim field is refused with the closest valid one; a far one gets none", () => {
    expect(() => assertClaimArguments("k", { leaseMS: 1_000, fingerprint: "fp" })).toThrow(
      'claim options has an unknown field "leaseMS" — did you mean "leaseMs"?',
    );
    const owner = { id: "a", maxEntry: 5 };
    expect(() => assertClaimArguments("k", { leaseMs: 1_000, fingerprint: "fp", owner })).toThrow(
      'claim owner has an unknown field "maxEntry" — did you mean "maxEntries"?',
    );
    expect(() => assertClaimArguments("k", { leaseMs: 1_000, fingerprint: "fp", zzz: 1 })).toThrow(
      'claim options has an unknown field "zzz"; expected',
    );
  });

  it("renew takes a key, a token and a positive integer leaseMs", () => {
    expect(() => assertRenewArguments("k", "t", 1)).not.toThrow();
    for (const [key, token, leaseMs] of [
      ["", "t", 1],
      ["k", "", 1],
      ["k", "t", 0],
      ["k", "t", 2.5],
      ["k", "t", "1000"],
      ["k", "t", Number.POSITIVE_INFINITY],
      ["k", "t", undefined],
    ] as const) {
      expect(() => assertRenewArguments(key, token, leaseMs)).toThrowError(
        code("INVALID_ARGUMENT"),
      );
    }
  });

  it("retention is an object of optional positive integers; arrays are refused", () => {
    expect(() => assertRetention({})).not.toThrow();
    expect(() => assertRetention({ maxLength: 3, maxAgeMs: 1_000 })).not.toThrow();
    expect(() => assertRetention({ maxAge: 1_000 })).toThrowError(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: expect.stringContaining('"maxAge"'),
      }),
    );
    for (const bad of [null, [], "x", { maxLength: 0 }, { maxAgeMs: 1.5 }]) {
      expect(() => assertRetention(bad)).toThrowError(code("INVALID_ARGUMENT"));
    }
  });

  it("read options must be an object, not an array", () => {
    expect(() => assertReadOptions({ after: 0, limit: 1 })).not.toThrow();
    expect(() => assertReadOptions([])).toThrowError(code("INVALID_ARGUMENT"));
  });
});
