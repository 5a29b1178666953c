import type { BatchItemResult, ClaimResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { useStores } from "./fixture.js";

const stores = useStores();
const lease = { leaseMs: 60_000, fingerprint: "f" };

/** A batch's answers as `claimed`, `pending`, … or the rejection's code. */
function statuses(results: readonly BatchItemResult<ClaimResult>[]): string[] {
  return results.map((r) =>
    r.status === "fulfilled" ? r.value.status : String((r.reason as { code?: string }).code),
  );
}

describe("PostgresDedupStore claimMany and completeMany", () => {
  it("rolls a batch back and claims it again when a concurrent claim takes one of its new keys between its read and its write", async () => {
    const schema = stores.schema("batch_race");
    const now = 1_000_000;
    const dedup = stores.dedup(schema, { clock: () => now, sweepIntervalMs: 0 });
    await dedup.claim("warm-up", lease); // creates the tables
    const admin = await (await stores.admin()).connect();
    try {
      // Another claimer inserts "x" and has not committed yet: the batch's read misses it and
      // its write waits on the row lock, then finds the row taken once it commits.
      await admin.query("BEGIN");
      await admin.query(
        `INSERT INTO "${schema}".assured_dedup (dedup_key, fingerprint, state, token, expires_at, fence, lease_ms) ` +
          "VALUES ($1, $2, 'claimed', $3, $4, 7, 60000)",
        [Buffer.from("x"), Buffer.from("f"), Buffer.from("other"), now + 60_000],
      );
      const batch = dedup.claimMany([
        { key: "a", options: { ...lease, owner: { id: "o", maxEntries: 2 } } },
        { key: "x", options: { ...lease, owner: { id: "o", maxEntries: 2 } } },
        { key: "b", options: { ...lease, owner: { id: "o", maxEntries: 2 } } },
      ]);
      const pool = await stores.admin();
      for (;;) {
        const { rowCount } = await pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`INSERT INTO "${schema}".%`],
        );
        if (rowCount !== null && rowCount > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await admin.query("COMMIT");
      // Again from a fresh read: "x" is pending, so "b" fits in the owner's quota of 2.
      const results = await batch;
      expect(statuses(results)).toEqual(["claimed", "pending", "claimed"]);
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".assured_dedup WHERE owner = $1`,
        [Buffer.from("o")],
      );
      expect(Number(rows[0]!.n), "the first attempt's rows were rolled back").toBe(2);
    } finally {
      admin.release();
    }
  });

  it("keeps an owner's quota exact and each key claimed once under concurrent batches of several instances", async () => {
    const schema = stores.schema("batch_quota");
    const instances = [stores.dedup(schema), stores.dedup(schema), stores.dedup(schema)];
    const owner = { id: "o", maxEntries: 7 };
    // Each instance claims 6 keys of its own and the same 4 shared ones, in other orders.
    const answers = await Promise.all(
      instances.map((dedup, n) => {
        const keys = [...[0, 1, 2, 3, 4, 5].map((i) => `own-${n}-${i}`), "s0", "s1", "s2", "s3"];
        if (n % 2 === 1) keys.reverse();
        return dedup.claimMany(keys.map((key) => ({ key, options: { ...lease, owner } })));
      }),
    );
    const all = answers.flat();
    expect(
      all.filter((r) => r.status === "fulfilled" && r.value.status === "claimed"),
    ).toHaveLength(7);
    const shared = answers.flatMap((results, n) =>
      results.filter((_, i) => (n % 2 === 1 ? i < 4 : i >= 6)),
    );
    expect(
      shared.filter((r) => r.status === "fulfilled" && r.value.status === "claimed").length,
    ).toBeLessThanOrEqual(4);
    for (const r of all) {
      if (r.status === "rejected")
        expect((r.reason as { code?: string }).code).toBe("QUOTA_EXCEEDED");
      else expect(["claimed", "pending"]).toContain(r.value.status);
    }
  });

  it("refuses the new keys of a batch beyond maxEntries with LIMIT_EXCEEDED and answers the held ones", async () => {
    const now = 1_000_000;
    const dedup = stores.dedup(stores.schema("batch_bound"), {
      maxEntries: 3,
      clock: () => now,
      sweepIntervalMs: 0,
    });
    await dedup.claim("held", lease);
    const results = await dedup.claimMany(
      ["n1", "held", "n2", "n1", "n3", "held"].map((key) => ({ key, options: lease })),
    );
    expect(statuses(results)).toEqual([
      "claimed",
      "pending",
      "claimed",
      "pending",
      "LIMIT_EXCEEDED",
      "pending",
    ]);
  });

  it("completes a key repeated in a batch once, with the first item whose token holds it", async () => {
    const dedup = stores.dedup(stores.schema("batch_complete"));
    const [a, b] = await dedup.claimMany([
      { key: "a", options: lease },
      { key: "b", options: lease },
    ]);
    const token = (r: typeof a) =>
      r?.status === "fulfilled" && r.value.status === "claimed" ? r.value.token : "";
    const response = (n: number) => ({ ok: n % 2 === 0, payload: new Uint8Array([n]) });
    const ttl = { ttlMs: 60_000 };
    const stored = await dedup.completeMany([
      { key: "a", token: "forged", response: response(0), options: ttl },
      { key: "a", token: token(a), response: response(1), options: ttl },
      { key: "a", token: token(a), response: response(2), options: ttl },
      { key: "b", token: token(b), response: response(3), options: ttl },
    ]);
    expect(stored.map((r) => (r.status === "fulfilled" ? r.value : r.reason))).toEqual([
      false,
      true,
      false,
      true,
    ]);
    expect(await dedup.claim("a", lease)).toEqual({
      status: "done",
      response: { ok: false, payload: new Uint8Array([1]) },
    });
    expect(await dedup.claim("b", lease)).toEqual({
      status: "done",
      response: { ok: false, payload: new Uint8Array([3]) },
    });
  });
});
