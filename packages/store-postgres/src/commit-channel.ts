import { createHash } from "node:crypto";
import type { CommittedRange } from "@assured/core/store";
import type { Tables } from "./tables.js";

/**
 * The `NOTIFY` channel of a schema and table prefix: `assured_commits_` and 16 hex digits of
 * a SHA-256 of `schema.prefix`. Always 32 characters (PostgreSQL truncates identifiers at 63
 * bytes, and a schema with a prefix may be longer), lower case (no quoting surprises), and
 * the same in every process, so stores on other tables of the same database never hear it.
 */
export function commitChannel(t: Tables): string {
  const digest = createHash("sha256").update(t.lockScope).digest("hex");
  return `assured_commits_${digest.slice(0, 16)}`;
}

/**
 * The payload of one commit report: `{"stream","epoch","first","last"}` as JSON with every
 * character outside ASCII escaped (`\uXXXX`), so it fits any server encoding. A stream name is
 * at most 256 code points (12 bytes each at worst, as a surrogate pair) and an epoch at most
 * 128 characters, far below PostgreSQL's 8,000-byte payload limit.
 */
export function commitPayload(range: CommittedRange): string {
  return JSON.stringify({
    stream: range.stream,
    epoch: range.epoch,
    first: range.first,
    last: range.last,
  }).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

/** The range a payload reports, or undefined for one this package did not write. */
export function parseCommitPayload(payload: string | undefined): CommittedRange | undefined {
  if (payload === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { stream, epoch, first, last } = value as Record<string, unknown>;
  if (typeof stream !== "string" || stream.length === 0 || typeof epoch !== "string") {
    return undefined;
  }
  if (!isOffset(first) || !isOffset(last) || first > last) return undefined;
  return { stream, epoch, first, last };
}
