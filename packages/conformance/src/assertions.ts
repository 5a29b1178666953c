import { ASSURED_ERROR_CODES, type AssuredErrorCode, type EventRecord } from "@assured/core";
import { expect } from "vitest";

/**
 * Expects `action` to fail with an `AssuredError` carrying one of `codes`, thrown or rejected.
 * Checked by shape (`name` and `code`), so a second copy of `@assured/core` still passes.
 */
export async function expectAssuredError(
  action: () => Promise<unknown>,
  codes: AssuredErrorCode | readonly AssuredErrorCode[],
  what: string,
): Promise<void> {
  const accepted = typeof codes === "string" ? [codes] : codes;
  const expected = `AssuredError ${accepted.join(" or ")}`;
  let failure: unknown;
  try {
    await action();
  } catch (error) {
    failure = error;
  }
  if (failure === undefined) expect.fail(`${what}: expected ${expected}, but the call succeeded`);
  const error = failure as { name?: unknown; code?: unknown; message?: unknown };
  const typed =
    typeof error === "object" &&
    error !== null &&
    error.name === "AssuredError" &&
    ASSURED_ERROR_CODES.includes(error.code as AssuredErrorCode);
  if (!typed) expect.fail(`${what}: expected ${expected}, got a raw error: ${String(failure)}`);
  if (!accepted.includes(error.code as AssuredErrorCode)) {
    expect.fail(
      `${what}: expected ${expected}, got ${String(error.code)}: ${String(error.message)}`,
    );
  }
}

/** Expects two byte arrays to be equal, naming the first differing index (fast for 1 MiB). */
export function expectSameBytes(actual: unknown, expected: Uint8Array, what: string): void {
  expect(actual instanceof Uint8Array, `${what}: payload is not a Uint8Array`).toBe(true);
  const bytes = actual as Uint8Array;
  expect(bytes.byteLength, `${what}: length`).toBe(expected.byteLength);
  for (let i = 0; i < expected.byteLength; i++) {
    if (bytes[i] !== expected[i]) {
      expect.fail(`${what}: byte ${i} is ${bytes[i]}, expected ${expected[i]}`);
    }
  }
}

/** Expects records to have consecutive offsets starting at `first`. */
export function expectConsecutive(
  records: readonly EventRecord[],
  first: number,
  what: string,
): void {
  records.forEach((record, index) => {
    expect(record.offset, `${what}: record ${index} out of sequence`).toBe(first + index);
  });
}

/** Expects a claim to have been won and returns its token. */
export function expectClaimed(result: { status: string; token?: unknown }, what: string): string {
  expect(result.status, `${what}: claim status`).toBe("claimed");
  expect(typeof result.token === "string" && result.token.length > 0, `${what}: token`).toBe(true);
  return result.token as string;
}
