import { MAX_STREAM_NAME_LENGTH } from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commitChannel, commitPayload, parseCommitPayload } from "../src/commit-channel.js";
import { tableNames } from "../src/tables.js";

/** PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more. */
const MAX_NOTIFY_PAYLOAD_BYTES = 7_999;

describe("commit reports: channel and payload", () => {
  it("round-trips every valid range in an ASCII payload below PostgreSQL's limit", () => {
    const stream = fc
      .array(
        fc.oneof(
          fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
          fc.constantFrom("\u0000", '"', "\\", "\u2028", "😀"),
        ),
        { minLength: 1, maxLength: MAX_STREAM_NAME_LENGTH },
      )
      .map((chars) => chars.join(""));
    const offset = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(stream, fc.string({ maxLength: 128 }), offset, offset, (s, epoch, a, b) => {
        const range = { stream: s, epoch, first: Math.min(a, b), last: Math.max(a, b) };
        const payload = commitPayload(range);
        expect(payload).toMatch(/^[\u0020-\u007e]+$/);
        expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_NOTIFY_PAYLOAD_BYTES);
        expect(parseCommitPayload(payload)).toEqual(range);
      }),
    );
  });

  it("ignores payloads it did not write", () => {
    for (const payload of [
      undefined,
      "",
      "not json",
      "null",
      '{"stream":"s","epoch":"e","first":2,"last":1}',
      '{"stream":"","epoch":"e","first":1,"last":1}',
      '{"stream":"s","epoch":"e","first":0,"last":1}',
      '{"stream":"s","first":1,"last":1}',
    ]) {
      expect(parseCommitPayload(payload), String(payload)).toBeUndefined();
    }
  });

  it("names one channel per schema and prefix, within PostgreSQL's identifier length", () => {
    const long = commitChannel(tableNames("s".repeat(63), "p".repeat(40)));
    expect(long).toMatch(/^assured_commits_[0-9a-f]{16}$/);
    expect(commitChannel(tableNames("public", "assured_"))).toBe(
      commitChannel(tableNames("public", "assured_")),
    );
    expect(commitChannel(tableNames("public", "a_"))).not.toBe(
      commitChannel(tableNames("public", "b_")),
    );
  });
});
