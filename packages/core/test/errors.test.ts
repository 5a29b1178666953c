import { describe, expect, it } from "vitest";
import { ASSURED_ERROR_CODES, AssuredError, isAssuredError, toStoreError } from "../src/errors.js";

describe("AssuredError", () => {
  it("carries a code, serializes without the cause, and rebuilds from JSON", () => {
    const cause = new Error("socket hang up");
    const error = new AssuredError("STORE_UNAVAILABLE", "append failed", {
      details: { stream: "s" },
      cause,
    });
    expect(error.cause).toBe(cause);
    const json = JSON.parse(JSON.stringify(error));
    expect(json).toEqual({
      code: "STORE_UNAVAILABLE",
      message: "append failed",
      details: { stream: "s" },
    });
    const back = AssuredError.fromJSON(json);
    expect(isAssuredError(back, "STORE_UNAVAILABLE")).toBe(true);
    expect(back.details).toEqual({ stream: "s" });
  });

  it("turns malformed peer errors into INTERNAL", () => {
    expect(AssuredError.fromJSON({ code: "NOPE", message: 3 }).code).toBe("INTERNAL");
    expect(AssuredError.fromJSON("garbage").code).toBe("INTERNAL");
    expect(AssuredError.fromJSON(null).code).toBe("INTERNAL");
  });

  it("wraps raw driver errors as STORE_UNAVAILABLE and keeps AssuredErrors", () => {
    const raw = toStoreError(new Error("ECONNREFUSED"), "read");
    expect(raw.code).toBe("STORE_UNAVAILABLE");
    expect(raw.message).toContain("ECONNREFUSED");
    const typed = new AssuredError("INVALID_STREAM", "bad");
    expect(toStoreError(typed, "read")).toBe(typed);
  });

  it("lists every code once", () => {
    expect(new Set(ASSURED_ERROR_CODES).size).toBe(ASSURED_ERROR_CODES.length);
  });
});
