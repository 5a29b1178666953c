import { createHash } from "node:crypto";
import { type ClaimOptions, type ClaimResult, newId, nextFencingToken } from "@assured/core/store";
import type { ClientBase } from "pg";
import { bytesPayload, textBytes } from "./bytes.js";
import type { Tables } from "./tables.js";

/** The one row the claim statement returns. */
interface ClaimRow {
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
 * The claim statement of a key without owner (claims with an owner go through `claimBatch`,
 * which keeps the owner's quota). `k` is the key's row as the statement's snapshot sees it:
 * the answer when it is unexpired, and then nothing is attempted. Otherwise `c` inserts the
 * key's row or, when the row is there and expired, takes it over
 * (`ON CONFLICT … DO UPDATE … WHERE expired`): PostgreSQL locks the conflicting row and judges
 * its newest committed version, also one committed after the statement's snapshot, so of
 * concurrent claimers exactly one takes a free key. The fencing token is the clock's (`$6`)
 * for a new row and `greatest(previous + 1, clock)` for a taken-over one, so it never goes
 * backwards (`nextFencingToken`).
 *
 * Parameters: key, fingerprint, token, now, leaseMs, the clock's fencing token.
 */
function claimStatement(t: Tables): string {
  return (
    `WITH k AS (SELECT * FROM ${t.dedup} WHERE dedup_key = $1::bytea), ` +
    `c AS (INSERT INTO ${t.dedup} AS d ` +
    "(dedup_key, fingerprint, state, token, expires_at, owner, fence, lease_ms) " +
    "SELECT $1::bytea, $2::bytea, 'claimed', $3::bytea, $4::double precision + $5::double precision, " +
    "NULL, $6::bigint, $5::double precision " +
    "WHERE NOT EXISTS (SELECT 1 FROM k WHERE k.expires_at > $4::double precision) " +
    "ON CONFLICT (dedup_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'claimed', " +
    "token = excluded.token, expires_at = excluded.expires_at, response_ok = NULL, " +
    "response_payload = NULL, owner = excluded.owner, fence = greatest(d.fence + 1, excluded.fence), " +
    "lease_ms = excluded.lease_ms WHERE d.expires_at <= $4::double precision " +
    "RETURNING (d.xmax = 0) AS inserted, d.fence) " +
    "SELECT c.inserted, c.fence AS claimed_fence, k.fingerprint, k.state, " +
    "k.expires_at, k.response_ok, k.response_payload FROM (SELECT 1) one LEFT JOIN c ON true " +
    "LEFT JOIN k ON true"
  );
}

const statements = new WeakMap<Tables, string>();

/**
 * The key of the transaction-scoped advisory lock that serializes the claims of `owner` (see
 * `claimBatch`): 64 bits of the SHA-256 of the schema, prefix and owner, computed here so the
 * statement that takes it holds only an integer literal.
 */
export function ownerLockKey(t: Tables, owner: string): bigint {
  const digest = createHash("sha256")
    .update(`assured-dedup-owner:${t.lockScope}:`)
    .update(textBytes(owner))
    .digest();
  return digest.readBigInt64BE(0);
}

/**
 * One attempt to claim `key`, which has no owner, in ONE statement (see `claimStatement`) on
 * `db`, in its own implicit transaction.
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
  const { leaseMs, fingerprint } = options;
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
