import {
  type ClaimOptions,
  type ClaimResult,
  newId,
  nextFencingToken,
  quotaExceededError,
} from "@assured/core";
import type { PoolClient } from "pg";
import { bytesPayload, textBytes } from "./bytes.js";
import type { Tables } from "./tables.js";

interface DedupRow {
  fingerprint: Buffer;
  state: "claimed" | "done";
  expires_at: number;
  response_ok: boolean | null;
  response_payload: Buffer | null;
  fence: string;
}

/**
 * What one attempt of a claim found: an answer (`inserted`: the claim created the key's row),
 * or a race lost to a concurrent first insert.
 */
export type ClaimAttempt = { result: ClaimResult; inserted: boolean } | "retry";

/**
 * Claims `key` in the open transaction of `client` (READ COMMITTED). The key's row is locked
 * (`SELECT … FOR UPDATE`), so of many concurrent claimers on any connection exactly one decides
 * while the others wait and then see its outcome. A key without a row is inserted with
 * `ON CONFLICT DO NOTHING`: a claimer that loses that race reads the winner's row in a new
 * statement (`"retry"`).
 *
 * Quota: a claim that would make the key a new unexpired entry of `owner` first takes a
 * transaction-scoped advisory lock on the owner, then counts the owner's unexpired rows
 * (index `(owner, expires_at)`, at most `maxEntries` read). Claims of one owner are serialized
 * by that lock, so the bound is exact under contention. Lock order is always key, then owner.
 */
export async function claimInTransaction(
  client: PoolClient,
  t: Tables,
  key: string,
  options: ClaimOptions,
  now: number,
): Promise<ClaimAttempt> {
  const { leaseMs, fingerprint, owner } = options;
  const keyBytes = textBytes(key);
  const { rows } = await client.query<DedupRow>(
    "SELECT fingerprint, state, expires_at, response_ok, response_payload, fence " +
      `FROM ${t.dedup} WHERE dedup_key = $1 FOR UPDATE`,
    [keyBytes],
  );
  const row = rows[0];
  const fingerprintBytes = textBytes(fingerprint);
  if (row !== undefined && row.expires_at > now) {
    return { result: answerLive(row, fingerprintBytes), inserted: false };
  }
  // The key becomes a new unexpired entry of its owner: free, or its lease or response expired.
  const ownerBytes = owner === undefined ? null : textBytes(owner.id);
  if (owner !== undefined) {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
      `assured-dedup-owner:${t.lockScope}:${owner.id}`,
    ]);
    const held = await client.query<{ held: string }>(
      `SELECT count(*) AS held FROM (SELECT 1 FROM ${t.dedup} ` +
        "WHERE owner = $1 AND expires_at > $2 LIMIT $3) unexpired",
      [ownerBytes, now, owner.maxEntries],
    );
    if (Number(held.rows[0]!.held) >= owner.maxEntries) throw quotaExceededError(owner);
  }
  const token = newId();
  const tokenBytes = textBytes(token);
  if (row !== undefined) {
    const fencingToken = nextFencingToken(Number(row.fence), now);
    await client.query(
      `UPDATE ${t.dedup} SET fingerprint = $2, state = 'claimed', token = $3, expires_at = $4, ` +
        "response_ok = NULL, response_payload = NULL, owner = $5, fence = $6, lease_ms = $7 " +
        "WHERE dedup_key = $1",
      [keyBytes, fingerprintBytes, tokenBytes, now + leaseMs, ownerBytes, fencingToken, leaseMs],
    );
    return { result: { status: "claimed", token, fencingToken }, inserted: false };
  }
  // A key without a row may have had one the sweep deleted: its token comes from the clock.
  const fencingToken = nextFencingToken(undefined, now);
  const inserted = await client.query(
    `INSERT INTO ${t.dedup} (dedup_key, fingerprint, state, token, expires_at, owner, fence, lease_ms) ` +
      "VALUES ($1, $2, 'claimed', $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING",
    [keyBytes, fingerprintBytes, tokenBytes, now + leaseMs, ownerBytes, fencingToken, leaseMs],
  );
  if (inserted.rowCount !== 1) return "retry";
  return { result: { status: "claimed", token, fencingToken }, inserted: true };
}

/** The answer for a key whose row is unexpired: `conflict`, `pending` or `done`. */
function answerLive(row: DedupRow, fingerprintBytes: Buffer): ClaimResult {
  if (!row.fingerprint.equals(fingerprintBytes)) return { status: "conflict" };
  if (row.state === "claimed") return { status: "pending", leaseExpiresAt: row.expires_at };
  return {
    status: "done",
    response: {
      ok: row.response_ok === true,
      payload: bytesPayload(row.response_payload ?? Buffer.alloc(0)),
    },
  };
}
