import type { ClientBase } from "pg";
import type { Tables } from "./tables.js";

/**
 * Owner quotas without counting on every claim. `dedupOwners` holds, per owner, an upper bound
 * on its dedup rows: the migration counted them, and triggers on the dedup table add each row
 * an owner gains (inserted, or taken over from another owner) in the writing transaction.
 * Nothing subtracts: rows that expire, are swept, released or taken by another owner leave the
 * figure high. A claim holding the owner's advisory lock reads it; when the figure plus the new
 * rows fits the quota, the claim is in (the true count is lower). Only otherwise
 * (`recountOwner`) are the owner's expired rows deleted and the rest counted, which resets the
 * figure to the exact number of its unexpired rows. So the quota stays exact, and a busy owner
 * pays a count once per quota's worth of claims instead of on every batch.
 */

const recounts = new WeakMap<Tables, string>();

/**
 * Deletes `$1`'s rows expired at `$2` and sets its figure to the rows left (all unexpired),
 * which the statement returns. Runs under the owner's advisory lock, so no claim of the owner
 * adds rows meanwhile. The delete and the count share the statement's snapshot, hence the
 * subtraction.
 */
function recountStatement(t: Tables): string {
  return (
    `WITH gone AS (DELETE FROM ${t.dedup} WHERE owner = $1::bytea ` +
    "AND expires_at <= $2::double precision RETURNING 1), " +
    `n AS (SELECT (SELECT count(*) FROM ${t.dedup} WHERE owner = $1::bytea) - ` +
    "(SELECT count(*) FROM gone) AS rows) " +
    `INSERT INTO ${t.dedupOwners} AS o (owner, entries) SELECT $1::bytea, rows FROM n ` +
    "ON CONFLICT (owner) DO UPDATE SET entries = excluded.entries RETURNING o.entries"
  );
}

/** The exact number of `owner`'s unexpired rows at `now`, its expired rows deleted. */
export async function recountOwner(
  db: Pick<ClientBase, "query">,
  t: Tables,
  owner: Buffer,
  now: number,
): Promise<number> {
  let text = recounts.get(t);
  if (text === undefined) {
    text = recountStatement(t);
    recounts.set(t, text);
  }
  const { rows } = await db.query<{ entries: string }>(t.sql.query(text, [owner, now]));
  return Number(rows[0]!.entries);
}

/** The SQL expression of owner `o.owner`'s figure (0 without a row), for a read statement. */
export function ownerFigureSql(t: Tables): string {
  return `COALESCE((SELECT f.entries FROM ${t.dedupOwners} f WHERE f.owner = o.owner), 0)`;
}
