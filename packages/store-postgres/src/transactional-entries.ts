import { AssuredError } from "@assured/core";
import { describe } from "@assured/core/store";
import type { ClientBase } from "pg";

/**
 * Throws `INVALID_ARGUMENT` unless `client` is a `pg` client inside an open transaction. The
 * state is the one the server reported with its last answer (`getTransactionStatus()`; a pg 8
 * release without it is not checked), so the check costs no round trip.
 */
export function assertInTransaction(client: unknown): asserts client is ClientBase {
  const c = client as { query?: unknown; getTransactionStatus?: unknown } | null;
  if (typeof c !== "object" || c === null || typeof c.query !== "function") {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `client must be a pg Client or PoolClient inside BEGIN … COMMIT, got ${describe(client)}.`,
    );
  }
  if (typeof c.getTransactionStatus !== "function") return;
  const status = (c.getTransactionStatus as () => string | null).call(c);
  if (status === "I") {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      'appendInTransaction needs a client inside a transaction: await client.query("BEGIN") ' +
        "first, then COMMIT (or ROLLBACK) after the call; outside one the events would commit at once.",
    );
  }
  if (status === "E") throw failedTransactionError();
}

/** PostgreSQL's SQLSTATE for a statement sent in a transaction that already failed. */
export const FAILED_TRANSACTION = "25P02";

/** `INVALID_ARGUMENT`: the application's transaction failed before `appendInTransaction`. */
export function failedTransactionError(): AssuredError {
  return new AssuredError(
    "INVALID_ARGUMENT",
    "the client's transaction has failed (an earlier statement errored); ROLLBACK it and start again.",
  );
}
