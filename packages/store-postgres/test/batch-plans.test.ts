import type { ClaimResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const lease = { leaseMs: 60_000, fingerprint: "f" };
const FILLER = 20_000;

/** Claims `keys` in one batch and completes them in one batch; the tokens must hold. */
async function claimAndComplete(
  dedup: ReturnType<typeof stores.dedup>,
  keys: readonly string[],
): Promise<void> {
  const claims = await dedup.claimMany(keys.map((key) => ({ key, options: lease })));
  const tokens = claims.map((c) => {
    if (c.status !== "fulfilled" || c.value.status !== "claimed") throw new Error("not claimed");
    return (c.value as Extract<ClaimResult, { status: "claimed" }>).token;
  });
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

describe("batch statements on a table that grew", () => {
  // Prepared, `completeMany`'s statement got a generic plan in its first runs, while the table
  // was small: a hash join over a scan of the whole table, kept as the table grew (116 µs a row
  // at 22,000 rows, 6× the claim's cost in the client → server benchmark).
  it("completeMany reaches rows by key, not by scanning the dedup table, whatever its size was at its first runs", async () => {
    const schema = stores.schema("grown");
    const dedup = stores.dedup(schema, { poolOptions: { max: 1 }, sweepIntervalMs: 0 });
    for (let round = 0; round < 8; round++) {
      await claimAndComplete(
        dedup,
        [0, 1, 2, 3].map((i) => `warm-${round}-${i}`),
      );
    }
    const admin = await stores.admin();
    await admin.query(
      `INSERT INTO "${schema}".assured_dedup (dedup_key, fingerprint, state, expires_at, response_ok, response_payload, fence) ` +
        "SELECT convert_to('filler-' || i, 'UTF8'), '\\x66', 'done', 1e15, true, '\\x01', 1 FROM generate_series(1, $1) i",
      [FILLER],
    );
    const rounds = 20;
    for (let round = 0; round < rounds; round++) {
      await claimAndComplete(
        dedup,
        [0, 1, 2, 3, 4, 5].map((i) => `grown-${round}-${i}`),
      );
    }
    await dedup.close(); // its connection's statistics are flushed as it ends
    const table = `${schema}.assured_dedup`;
    const updates = 8 * 4 + rounds * 6;
    let read = 0;
    for (;;) {
      await admin.query("SELECT pg_stat_clear_snapshot()");
      const { rows } = await admin.query<{ upd: string; seq: string }>(
        "SELECT n_tup_upd AS upd, seq_tup_read AS seq FROM pg_stat_user_tables " +
          "WHERE relid = to_regclass($1)",
        [`"${schema}".assured_dedup`],
      );
      if (Number(rows[0]?.upd ?? 0) >= updates) {
        read = Number(rows[0]!.seq);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A scan per completion would read the filler once per round: rounds × FILLER rows.
    expect(read, `${table}: rows read by sequential scans`).toBeLessThan(2 * FILLER);
  });
});
