import type { ClaimResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const lease = { leaseMs: 60_000, fingerprint: "f" };
const FILLER = 20_000;

/** Claims `keys` in one batch; each must be claimed. Returns their tokens. */
async function claim(
  dedup: ReturnType<typeof stores.dedup>,
  keys: readonly string[],
): Promise<string[]> {
  const claims = await dedup.claimMany(keys.map((key) => ({ key, options: lease })));
  return claims.map((c) => {
    if (c.status !== "fulfilled" || c.value.status !== "claimed") throw new Error("not claimed");
    return (c.value as Extract<ClaimResult, { status: "claimed" }>).token;
  });
}

/** Completes `keys` with their `tokens` in one batch; each must be stored. */
async function complete(
  dedup: ReturnType<typeof stores.dedup>,
  keys: readonly string[],
  tokens: readonly string[],
): Promise<void> {
  const stored = await dedup.completeMany(
    keys.map((key, i) => ({
      key,
      token: tokens[i]!,
      response: { ok: true, payload: new Uint8Array([1]) },
      options: { ttlMs: 60_000 },
    })),
  );
  expect(stored.map((s) => s.status === "fulfilled" && s.value)).toEqual(keys.map(() => true));
}

/** The dedup table's cumulative statistics: rows updated and deleted, rows read by sequential scans. */
async function tableStats(
  admin: Awaited<ReturnType<typeof stores.admin>>,
  schema: string,
): Promise<{ updates: number; deleted: number; scanned: number }> {
  const { rows } = await admin.query<{ upd: string; del: string; seq: string }>(
    "SELECT n_tup_upd AS upd, n_tup_del AS del, seq_tup_read AS seq FROM pg_stat_user_tables " +
      "WHERE relid = to_regclass($1)",
    [`"${schema}".assured_dedup`],
  );
  return {
    updates: Number(rows[0]?.upd ?? 0),
    deleted: Number(rows[0]?.del ?? 0),
    scanned: Number(rows[0]?.seq ?? 0),
  };
}

describe("batch statements on a table that grew", () => {
  // Prepared, `completeMany`'s statement got a generic plan in its first runs, while the table
  // was small: a hash join over a scan of the whole table, kept as the table grew (116 µs a row
  // at 22,000 rows, 6× the claim's cost in the client → server benchmark).
  it("completeMany reaches rows by key, not by scanning the dedup table, whatever its size was at its first runs", async () => {
    const schema = stores.schema("grown");
    const dedup = stores.dedup(schema, { poolOptions: { max: 1 }, sweepIntervalMs: 0 });
    for (let round = 0; round < 8; round++) {
      const keys = [0, 1, 2, 3].map((i) => `warm-${round}-${i}`);
      await complete(dedup, keys, await claim(dedup, keys));
    }
    // Claimed before the table grows, so that only the completions read it afterwards (a
    // claim may count the table's rows for its bound, a scan of its own).
    const rounds = 20;
    const keys = Array.from({ length: rounds }, (_, round) =>
      [0, 1, 2, 3, 4, 5].map((i) => `grown-${round}-${i}`),
    );
    const tokens = [];
    for (const batch of keys) tokens.push(await claim(dedup, batch));
    const admin = await stores.admin();
    await admin.query(
      `INSERT INTO "${schema}".assured_dedup (dedup_key, fingerprint, state, expires_at, response_ok, response_payload, fence) ` +
        "SELECT convert_to('filler-' || i, 'UTF8'), '\\x66', 'done', 1e15, true, '\\x01', 1 FROM generate_series(1, $1) i",
      [FILLER],
    );
    const before = await tableStats(admin, schema);
    for (let round = 0; round < rounds; round++)
      await complete(dedup, keys[round]!, tokens[round]!);
    await dedup.close(); // its connection's statistics are flushed as it ends
    const updates = before.updates + rounds * 6;
    const deadline = Date.now() + 10_000;
    let after = await tableStats(admin, schema);
    while (after.updates < updates) {
      if (Date.now() > deadline) {
        throw new Error(`statistics never showed the ${updates} updates: ${JSON.stringify(after)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await tableStats(admin, schema);
    }
    // A scan per completion would read the filler once per round: rounds × FILLER rows.
    expect(after.scanned - before.scanned, "rows read by sequential scans").toBeLessThan(FILLER);
  });

  it("the sweep finds expired rows without scanning the table once its statistics are current, though it first ran on a small table", async () => {
    const schema = stores.schema("swept");
    const dedup = stores.dedup(schema, { poolOptions: { max: 1 }, sweepIntervalMs: 0 });
    await claim(dedup, ["create-the-tables"]);
    for (let i = 0; i < 8; i++) await dedup.sweepExpired();
    const admin = await stores.admin();
    const insert = (prefix: string, count: number, expiresAt: number) =>
      admin.query(
        `INSERT INTO "${schema}".assured_dedup (dedup_key, fingerprint, state, expires_at, response_ok, response_payload, fence) ` +
          `SELECT convert_to('${prefix}-' || i, 'UTF8'), '\\x66', 'done', $2, true, '\\x01', 1 FROM generate_series(1, $1) i`,
        [count, expiresAt],
      );
    await insert("live", FILLER, 1e15);
    // As autovacuum would soon after: the statistics know how few rows are expired.
    await admin.query(`ANALYZE "${schema}".assured_dedup`);
    const before = await tableStats(admin, schema);
    const rounds = 10;
    let swept = 0;
    for (let round = 0; round < rounds; round++) {
      await insert(`expired-${round}`, 5, 1);
      swept += await dedup.sweepExpired();
    }
    expect(swept).toBe(rounds * 5);
    await dedup.close(); // its connection's statistics are flushed as it ends
    const deadline = Date.now() + 10_000;
    let after = await tableStats(admin, schema);
    while (after.deleted < before.deleted + rounds * 5) {
      if (Date.now() > deadline) {
        throw new Error(`statistics never showed the sweep's deletes: ${JSON.stringify(after)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await tableStats(admin, schema);
    }
    expect(after.scanned - before.scanned, "rows read by sequential scans").toBeLessThan(FILLER);
  });
});
