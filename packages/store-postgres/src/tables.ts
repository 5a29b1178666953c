import { Statements } from "./statements.js";

/** The quoted, schema-qualified names of a store's tables and indexes, and its statements. */
export interface Tables {
  /** The schema, quoted. */
  schema: string;
  /** `schema_version` and future settings. */
  meta: string;
  /** One row per stream with a log: its epoch and head (the row appends lock). */
  streams: string;
  /** The retained events. */
  events: string;
  /** Dedup keys: leases and stored responses. */
  dedup: string;
  /**
   * Per owner, an upper bound on its dedup rows (see `dedup-owner-rows.ts`): triggers on
   * `dedup` add every row an owner gains; nothing subtracts until a claim at the quota counts.
   */
  dedupOwners: string;
  /** The trigger functions that keep `dedupOwners`, schema-qualified. */
  functions: { ownerRowsInserted: string; ownerRowTaken: string };
  /** Unqualified index and trigger names (they live in their table's schema). */
  index: {
    dedupByOwner: string;
    dedupByExpiry: string;
    ownerRowsInserted: string;
    ownerRowTaken: string;
  };
  /** Identifies this schema and prefix in advisory-lock keys. */
  lockScope: string;
  /** Builds the query configs of the store's fixed statements (see `Statements`). */
  sql: Statements;
}

/** Quotes an identifier (the options only allow letters, digits and `_`; quoting keeps case). */
function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * The table names for `schema` and `prefix` (both validated by the options); statements are
 * named prepared statements unless `preparedStatements` is false.
 */
export function tableNames(schema: string, prefix: string, preparedStatements = true): Tables {
  const table = (name: string) => `${quote(schema)}.${quote(prefix + name)}`;
  return {
    schema: quote(schema),
    meta: table("meta"),
    streams: table("streams"),
    events: table("events"),
    dedup: table("dedup"),
    dedupOwners: table("dedup_owners"),
    functions: {
      ownerRowsInserted: table("dedup_owner_add"),
      ownerRowTaken: table("dedup_owner_take"),
    },
    index: {
      dedupByOwner: quote(`${prefix}dedup_by_owner`),
      dedupByExpiry: quote(`${prefix}dedup_by_expiry`),
      ownerRowsInserted: quote(`${prefix}dedup_owner_add`),
      ownerRowTaken: quote(`${prefix}dedup_owner_take`),
    },
    lockScope: `${schema}.${prefix}`,
    sql: new Statements(preparedStatements),
  };
}
