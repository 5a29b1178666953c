import { createHash } from "node:crypto";
import {
  type ClaimOptions,
  type ClaimResult,
  newId,
  nextFencingToken,
  quotaExceededError,
} from "@assured/core/store";
import type { ClientBase } from "pg";
import { bytesPayload, textBytes } from "./bytes.js";
import type { Tables } from "./tables.js";

/** The one row the claim statement returns. */
interface ClaimRow {
  /**
   * False when nothing was attempted: the snapshot's row is unexpired, or the owner already
   * holds its quota of unexpired entries.
   */
  room: boolean;
  /** Set when this claim took the key: whether it inserted the row, and its fencing token. */
  inserted: boolean | null;
  claimed_fence: string | null;
  /** The key's row in the statement's snapshot (NULL columns when it had none). */
  fingerprint: Buffer | null;
  state: "claimed" | "done" | null;
  expires_at: number | null;
  response_ok: boolean | null;
  response_payload: Buffer | null;
}

/**
 * What one attempt of a claim found: an answer (`inserted`: the claim created the key's row),
 * or a race lost to a concurrent claim that took the key after the statement's snapshot.
 */
export type ClaimAttempt = { result: ClaimResult; inserted: boolean } | "retry";

/**
 * The claim statement. `k` is the key's row as the statement's snapshot sees it: the answer
 * when nothing is taken. When it is unexpired nothing is attempted (no room needed, no count).
 * Otherwise `held` counts the owner's unexpired entries through the index `(owner, expires_at)`,
 * stopping at the quota (`LIMIT`), so it reads at most `maxEntries` index entries; no owner, no
 * count. With room, `c` inserts the key's row or, when the row is there and expired, takes it
 * over (`ON CONFLICT … DO UPDATE … WHERE expired`): PostgreSQL locks the conflicting row and
 * judges its newest committed version, also one committed after the statement's snapshot, so
 * of concurrent claimers exactly one takes a free key. The fencing token is the clock's (`$8`) for a new row and `greatest(previous + 1, clock)` for a
 * taken-over one, so it never goes backwards (`nextFencingToken`).
 *
 * Parameters: key, fingerprint, token, now, leaseMs, owner (NULL: none), the owner's
 * maxEntries (NULL: none), the clock's fencing token.
 */
function claimStatement(t: Tables): string {
  return (
    "WITH held AS (SELECT count(*) AS n FROM (SELECT 1 FROM " +
    `${t.dedup} WHERE owner = $6::bytea AND expires_at > $4::double precision LIMIT $7::bigint) o), ` +
    `k AS (SELECT * FROM ${t.dedup} WHERE dedup_key = $1::bytea), ` +
    "room AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM k WHERE k.expires_at > $4::double precision) " +
    "THEN false WHEN $6::bytea IS NULL THEN true ELSE (SELECT n FROM held) < $7::bigint END AS ok), " +
    `c AS (INSERT INTO ${t.dedup} AS d ` +
    "(dedup_key, fingerprint, state, token, expires_at, owner, fence, lease_ms) " +
    "SELECT $1::bytea, $2::bytea, 'claimed', $3::bytea, $4::double precision + $5::double precision, " +
    "$6::bytea, $8::bigint, $5::double precision FROM room WHERE room.ok " +
    "ON CONFLICT (dedup_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'claimed', " +
    "token = excluded.token, expires_at = excluded.expires_at, response_ok = NULL, " +
    "response_payload = NULL, owner = excluded.owner, fence = greatest(d.fence + 1, excluded.fence), " +
    "lease_ms = excluded.lease_ms WHERE d.expires_at <= $4::double precision " +
    "RETURNING (d.xmax = 0) AS inserted, d.fence) " +
    "SELECT room.ok AS room, c.inserted, c.fence AS claimed_fence, k.fingerprint, k.state, " +
    "k.expires_at, k.response_ok, k.response_payload FROM room LEFT JOIN c ON true " +
    "LEFT JOIN k ON true"
  );
}

const statements = new WeakMap<Tables, string>();

/**
 * The transaction-scoped advisory lock that serializes the claims of one owner, as the
 * statement that opens the claim's transaction (one round trip): `BEGIN` and the lock. Its key
 * is 64 bits of the SHA-256 of the schema, prefix and owner, computed here so the statement
 * holds only an integer literal.
 */
export function ownerLockBegin(t: Tables, owner: string): string {
  return `BEGIN; SELECT pg_advisory_xact_lock('${ownerLockKey(t, owner)}'::bigint)`;
}

/** The advisory-lock key of `owner`'s claims (see `ownerLockBegin`). */
export function ownerLockKey(t: Tables, owner: string): bigint {
  const digest = createHash("sha256")
    .update(`assured-dedup-owner:${t.lockScope}:`)
    .update(textBytes(owner))
    .digest();
  return digest.readBigInt64BE(0);
}

/**
 * One attempt to claim `key`, in ONE statement (see `claimStatement`) on `db`. With an owner,
 * `db` is a client whose transaction (READ COMMITTED) began with `ownerLockBegin`: claims of
 * one owner are serialized by that lock and each statement's snapshot is taken after it, so
 * the count sees every claim of the owner that committed before, and the quota is exact under
 * contention. Lock order is always owner, then key. Without an owner the statement runs on
 * its own (its own implicit transaction).
 *
 * `"retry"`: nothing was taken and the snapshot's row says the key was free, so a concurrent
 * claim took it after the snapshot; a new statement (a new snapshot) sees it.
 */
export async function claimOnce(
  db: Pick<ClientBase, "query">,
  t: Tables,
  key: string,
  options: ClaimOptions,
  now: number,
): Promise<ClaimAttempt> {
  const { leaseMs, fingerprint, owner } = options;
  let text = statements.get(t);
  if (text === undefined) {
    text = claimStatement(t);
    statements.set(t, text);
  }
  const token = newId();
  const fingerprintBytes = textBytes(fingerprint);
  const { rows } = await db.query<ClaimRow>(
    t.sql.query(text, [
      textBytes(key),
      fingerprintBytes,
      textBytes(token),
      now,
      leaseMs,
      owner === undefined ? null : textBytes(owner.id),
      owner === undefined ? null : owner.maxEntries,
      nextFencingToken(undefined, now),
    ]),
  );
  const row = rows[0]!;
  if (row.inserted !== null) {
    return {
      result: { status: "claimed", token, fencingToken: Number(row.claimed_fence) },
      inserted: row.inserted,
    };
  }
  if (row.state !== null && row.expires_at! > now) {
    return { result: answerLive(row, fingerprintBytes), inserted: false };
  }
  if (!row.room) throw quotaExceededError(owner!);
  return "retry";
}

/** The answer for a key whose row is unexpired: `conflict`, `pending` or `done`. */
export function answerLive(
  row: Pick<ClaimRow, "fingerprint" | "state" | "expires_at" | "response_ok" | "response_payload">,
  fingerprintBytes: Buffer,
): ClaimResult {
  if (!row.fingerprint!.equals(fingerprintBytes)) return { status: "conflict" };
  if (row.state === "claimed") return { status: "pending", leaseExpiresAt: row.expires_at! };
  return {
    status: "done",
    response: {
      ok: row.response_ok === true,
      payload: bytesPayload(row.response_payload ?? Buffer.alloc(0)),
    },
  };
}
