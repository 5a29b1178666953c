import type { ClientBase } from "pg";
import type { Tables } from "./tables.js";

/**
 * Owner quotas without counting on every claim. `dedupOwners` holds, per owner, a figure that is
 * never below its number of dedup rows, expired ones included: the migration counted them, and
 * triggers on the dedup table add each row an owner gains (inserted, or a released row claimed
 * again) in the writing transaction. Nothing subtracts: rows the sweep deletes, released rows
 * and expiries leave the figure high. A claim holding the owner's advisory lock reads it; when
 * the figure plus the batch's new keys fits the quota, they are let in (the owner's unexpired
 * rows, which the quota bounds, are fewer still). Only otherwise does `recountOwner` count the
 * owner's rows: the unexpired ones, exactly, for the quota of this batch, and all of them as the
 * new figure. The figure must cover expired rows too: a claim that takes over its owner's own
 * expired row makes it unexpired again without changing its owner (no trigger fires). Rows are
 * never deleted here (deleting would reset a key's fencing tokens, which only the sweep may do,
 * and take row locks in an order that can deadlock with other owners' takeovers). So a busy
 * owner pays one count per quota's worth of claims instead of one per batch; an owner at its
 * quota, or holding many expired rows the sweep has not deleted yet, counts on each claim of a
 * new key, as every claim did before.
 */

const recounts = new WeakMap<Tables, string>();

/**
 * Counts `$1`'s rows (through the index `(owner, expires_at)`): those unexpired at `$2`, and all,
 * which becomes its figure. Runs under the owner's advisory lock, so no claim of the owner adds
 * rows meanwhile; rows deleted or released concurrently only leave the figure high.
 */
function recountStatement(t: Tables): string {
  return (
    "WITH n AS (SELECT count(*) FILTER (WHERE expires_at > $2::double precision) AS live, " +
    `count(*) AS rows FROM ${t.dedup} WHERE owner = $1::bytea), ` +
    `f AS (INSERT INTO ${t.dedupOwners} AS o (owner, entries) SELECT $1::bytea, rows FROM n ` +
    "ON CONFLICT (owner) DO UPDATE SET entries = excluded.entries RETURNING 1) " +
    "SELECT live, (SELECT count(*) FROM f) AS written FROM n"
  );
}

/** The exact number of `owner`'s unexpired rows at `now`; its figure becomes all its rows. */
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
  const { rows } = await db.query<{ live: string }>(t.sql.query(text, [owner, now]));
  return Number(rows[0]!.live);
}

/** The SQL expression of owner `o.owner`'s figure (0 without a row), for a read statement. */
export function ownerFigureSql(t: Tables): string {
  return `COALESCE((SELECT f.entries FROM ${t.dedupOwners} f WHERE f.owner = o.owner), 0)`;
}
