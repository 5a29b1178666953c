import { describe, expect, it } from "vitest";
import {
  assertEpoch,
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
});
