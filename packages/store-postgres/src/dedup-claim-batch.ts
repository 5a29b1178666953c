import { AssuredError } from "@assured/core";
import {
  type ClaimOptions,
  type ClaimResult,
  newId,
  nextFencingToken,
  quotaExceededError,
} from "@assured/core/store";
import type { ClientBase, Pool } from "pg";
import { textBytes } from "./bytes.js";
import { answerLive, ownerLockKey } from "./dedup-claim.js";
import { ownerFigureSql, recountOwner } from "./dedup-owner-rows.js";
import type { Tables } from "./tables.js";
import { inTransaction } from "./transaction.js";

/** One claim of a batch, its arguments already checked. */
export interface BatchClaim {
  key: string;
  options: ClaimOptions;
}

/** The answer of one claim of a batch: what `claim` would resolve with, or throw. */
export type BatchClaimOutcome = { result: ClaimResult } | { error: AssuredError };

/** The answers of a batch, in order, and how many rows it inserted (for the bound). */
export interface BatchClaimAnswers {
  outcomes: BatchClaimOutcome[];
  inserted: number;
}

/** A row of the read statement: a key's row (`kind` "k") or an owner's figure (`kind` "o"). */
interface ReadRow {
  kind: "k" | "o";
  id: Buffer;
  fingerprint: Buffer | null;
  state: "claimed" | "done" | null;
  expires_at: number | null;
  response_ok: boolean | null;
  response_payload: Buffer | null;
  held: string | null;
}

/** A key's unexpired row as the batch sees it: read, or written by an earlier item. */
type LiveRow = Pick<
  ReadRow,
  "fingerprint" | "state" | "expires_at" | "response_ok" | "response_payload"
>;

/** A row the batch takes: inserted, or taken over from an expired row. */
interface PlannedClaim {
  key: Buffer;
  fingerprint: Buffer;
  token: string;
  expiresAt: number;
  owner: Buffer | null;
  leaseMs: number;
}

/** Thrown inside the transaction when a concurrent claim took a key the batch meant to take. */
class LostRace extends Error {}

/** A `bytea[]` literal of `values` (hex digits only: nothing to escape, whatever the settings). */
function byteaArray(values: readonly Buffer[]): string {
  if (values.length === 0) return "'{}'::bytea[]";
  return `ARRAY[${values.map((v) => `decode('${v.toString("hex")}','hex')`).join(",")}]`;
}

/**
 * The read statement, its values written in: the rows of the batch's `keys`, and per owner of
 * `owners` its figure, an upper bound on its rows (see `dedup-owner-rows.ts`). It follows the
 * owners' locks in the transaction's first round trip (a simple query takes no parameters).
 */
function readStatement(t: Tables, keys: readonly Buffer[], owners: readonly Buffer[]): string {
  return (
    "SELECT 'k' AS kind, d.dedup_key AS id, d.fingerprint, d.state, d.expires_at, " +
    `d.response_ok, d.response_payload, NULL::bigint AS held FROM ${t.dedup} d ` +
    `WHERE d.dedup_key = ANY(${byteaArray(keys)}) UNION ALL ` +
    "SELECT 'o', o.owner, NULL::bytea, NULL::text, NULL::double precision, NULL::boolean, " +
    `NULL::bytea, ${ownerFigureSql(t)} FROM unnest(${byteaArray(owners)}) AS o(owner)`
  );
}

/**
 * The write statement: inserts each planned row, or takes over an expired one (as the single
 * claim statement does, `ON CONFLICT … WHERE expired`, the fencing token
 * `greatest(previous + 1, clock)`), in key order so concurrent batches lock rows alike. A key
 * missing from `RETURNING` was taken by a concurrent claim after the read.
 */
function writeStatement(t: Tables): string {
  return (
    `INSERT INTO ${t.dedup} AS d ` +
    "(dedup_key, fingerprint, state, token, expires_at, owner, fence, lease_ms) " +
    "SELECT x.k, x.f, 'claimed', x.t, x.e, x.o, $7::bigint, x.l FROM unnest($1::bytea[], " +
    "$2::bytea[], $3::bytea[], $4::double precision[], $5::bytea[], $6::double precision[]) " +
    "AS x(k, f, t, e, o, l) ORDER BY x.k " +
    "ON CONFLICT (dedup_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'claimed', " +
    "token = excluded.token, expires_at = excluded.expires_at, response_ok = NULL, " +
    "response_payload = NULL, owner = excluded.owner, fence = greatest(d.fence + 1, excluded.fence), " +
    "lease_ms = excluded.lease_ms WHERE d.expires_at <= $8::double precision " +
    "RETURNING d.dedup_key AS k, (d.xmax = 0) AS inserted, d.fence"
  );
}

const writes = new WeakMap<Tables, string>();

function writeStatementOf(t: Tables): string {
  let found = writes.get(t);
  if (found === undefined) {
    found = writeStatement(t);
    writes.set(t, found);
  }
  return found;
}

/**
 * The transaction's first round trip: `BEGIN`, the advisory locks of the batch's `owners`, each
 * its own statement (so the read after them takes its snapshot once they are held), in
 * ascending key order, so batches sharing owners never wait on each other in a cycle, then the
 * read (its result is the last).
 */
function beginAndRead(t: Tables, keys: readonly string[], owners: readonly string[]): string {
  const locks = owners.map((owner) => ownerLockKey(t, owner));
  locks.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [
    "BEGIN",
    ...locks.map((k) => `SELECT pg_advisory_xact_lock('${k}'::bigint)`),
    readStatement(t, keys.map(textBytes), owners.map(textBytes)),
  ].join("; ");
}

/**
 * Claims `claims` in order, as `claimOnce` one after the other would, in ONE transaction of
 * three round trips: `BEGIN` with the owners' locks and the read (the keys' rows, the owners'
 * figures), one write (every row the batch takes), `COMMIT`; one more per owner whose figure
 * leaves too little room (its rows are counted, see `dedup-owner-rows.ts`). The answers are
 * worked out here from the read: a key with an unexpired row answers from it (an earlier
 * item's claim included), a free or expired key is claimed when its owner has room (the count
 * grows with each claim, in order) and is refused with `QUOTA_EXCEEDED` otherwise. The owners'
 * locks keep the figures valid until `COMMIT`; a key taken by a concurrent claim between the read and the
 * write (no lock covers a key without a row) rolls the whole batch back and it is tried again,
 * up to `attempts` times (then `STORE_UNAVAILABLE`, retryable). Each key is taken at most once
 * per batch: a claimed lease is unexpired at the batch's `now`.
 */
export async function claimBatch(
  pool: Pool,
  t: Tables,
  claims: readonly BatchClaim[],
  now: number,
  attempts: number,
): Promise<BatchClaimAnswers> {
  const keys = [...new Set(claims.map((c) => c.key))];
  const owners = [...new Set(claims.flatMap((c) => (c.options.owner ? [c.options.owner.id] : [])))];
  const begin = beginAndRead(t, keys, owners);
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(
        pool,
        (client, begun) =>
          claimBatchOnce(client, t, claims, begun[begun.length - 1]!.rows as ReadRow[], now),
        begin,
      );
    } catch (error) {
      if (!(error instanceof LostRace)) throw error;
      if (attempt >= attempts) {
        throw new AssuredError(
          "STORE_UNAVAILABLE",
          "claimMany kept racing concurrent claims of the same new keys; retry it.",
        );
      }
    }
  }
}

/**
 * Replaces in `held` the figure of each owner that might not fit its claims (its figure plus
 * its claims of keys without a live row passes its smallest quota in the batch) by the exact
 * count (`recountOwner`); the other figures are upper bounds with room, which admit the same.
 */
async function recountWhereTight(
  db: Pick<ClientBase, "query">,
  t: Tables,
  claims: readonly BatchClaim[],
  live: ReadonlyMap<string, LiveRow>,
  held: Map<string, number>,
  now: number,
): Promise<void> {
  const wanted = new Map<string, { rows: number; quota: number }>();
  for (const { key, options } of claims) {
    const owner = options.owner;
    if (owner === undefined || live.has(key)) continue;
    const w = wanted.get(owner.id);
    if (w === undefined) wanted.set(owner.id, { rows: 1, quota: owner.maxEntries });
    else {
      w.rows++;
      w.quota = Math.min(w.quota, owner.maxEntries);
    }
  }
  for (const [owner, { rows, quota }] of wanted) {
    if ((held.get(owner) ?? 0) + rows > quota) {
      held.set(owner, await recountOwner(db, t, textBytes(owner), now));
    }
  }
}

/** One attempt of `claimBatch` on `db`, inside the transaction, after the read (`rows`). */
async function claimBatchOnce(
  db: Pick<ClientBase, "query">,
  t: Tables,
  claims: readonly BatchClaim[],
  rows: readonly ReadRow[],
  now: number,
): Promise<BatchClaimAnswers> {
  const live = new Map<string, LiveRow>();
  const held = new Map<string, number>();
  for (const row of rows) {
    const id = row.id.toString("utf8");
    if (row.kind === "o") held.set(id, Number(row.held));
    else if (row.expires_at! > now) live.set(id, row);
  }
  await recountWhereTight(db, t, claims, live, held, now);
  const planned: PlannedClaim[] = [];
  const answers: (BatchClaimOutcome | PlannedClaim)[] = claims.map(({ key, options }) => {
    const { leaseMs, fingerprint, owner } = options;
    const fingerprintBytes = textBytes(fingerprint);
    const row = live.get(key);
    if (row !== undefined) return { result: answerLive(row, fingerprintBytes) };
    if (owner !== undefined) {
      const n = held.get(owner.id) ?? 0;
      if (n >= owner.maxEntries) return { error: quotaExceededError(owner) };
      held.set(owner.id, n + 1);
    }
    const claim: PlannedClaim = {
      key: textBytes(key),
      fingerprint: fingerprintBytes,
      token: newId(),
      expiresAt: now + leaseMs,
      owner: owner === undefined ? null : textBytes(owner.id),
      leaseMs,
    };
    planned.push(claim);
    live.set(key, {
      fingerprint: fingerprintBytes,
      state: "claimed",
      expires_at: claim.expiresAt,
      response_ok: null,
      response_payload: null,
    });
    return claim;
  });
  if (planned.length === 0) return { outcomes: answers as BatchClaimOutcome[], inserted: 0 };
  const written = await db.query<{ k: Buffer; inserted: boolean; fence: string }>(
    t.sql.query(writeStatementOf(t), [
      planned.map((p) => p.key),
      planned.map((p) => p.fingerprint),
      planned.map((p) => textBytes(p.token)),
      planned.map((p) => p.expiresAt),
      planned.map((p) => p.owner),
      planned.map((p) => p.leaseMs),
      nextFencingToken(undefined, now),
      now,
    ]),
  );
  if (written.rows.length !== planned.length) throw new LostRace();
  const fences = new Map(written.rows.map((r) => [r.k.toString("hex"), Number(r.fence)]));
  const outcomes = answers.map((answer): BatchClaimOutcome => {
    if (!("token" in answer)) return answer;
    const fencingToken = fences.get(answer.key.toString("hex"))!;
    return { result: { status: "claimed", token: answer.token, fencingToken } };
  });
  return { outcomes, inserted: written.rows.filter((r) => r.inserted).length };
}
