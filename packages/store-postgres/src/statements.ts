import { createHash } from "node:crypto";
import type { QueryConfig } from "pg";

/** The prefix of every prepared statement name of the stores. */
export const STATEMENT_NAME_PREFIX = "assured_";

/**
 * Builds the query configs of a store's statements. Prepared (the default), a statement is
 * named after a hash of its text: `pg` parses and plans it once per connection and then only
 * binds and executes it. The text holds the schema and table prefix, so stores on other tables
 * get other names, and stores on the same tables share them. Only fixed texts are given here
 * (batches are passed as arrays through `unnest`), so a connection keeps a bounded number of
 * statements, whatever the batch sizes. Unprepared, statements are sent unnamed (PgBouncer in
 * transaction mode before 1.21 does not keep named ones across transactions).
 */
export class Statements {
  private readonly names = new Map<string, string>();

  constructor(readonly prepared: boolean) {}

  /** The query config of `text` with `values`: named when prepared. */
  query(text: string, values: unknown[]): QueryConfig {
    if (!this.prepared) return { text, values };
    let name = this.names.get(text);
    if (name === undefined) {
      name = statementName(text);
      this.names.set(text, name);
    }
    return { name, text, values };
  }

  /**
   * The query config of `text` with `values`, always unnamed: the server plans it at each run,
   * with the batch's own sizes and the tables' sizes now. For a statement that joins a batch to
   * a table that can grow fast: a prepared statement's cached generic plan, made while the
   * table was small, goes on scanning all of it.
   */
  replanned(text: string, values: unknown[]): QueryConfig {
    return { text, values };
  }
}

/** The prepared statement name of `text`: the prefix and 24 hex digits of its SHA-256. */
export function statementName(text: string): string {
  return STATEMENT_NAME_PREFIX + createHash("sha256").update(text).digest("hex").slice(0, 24);
}
