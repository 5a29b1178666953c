import { isAssuredError } from "@assured/core";
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, SqliteDedupStore } from "../src/index.js";
import { useTempStores } from "./support/temp-database.js";

const code = (c: string) => (e: unknown) => isAssuredError(e) && e.code === c;
const lease = { leaseMs: 1_000, fingerprint: "fp" };
const alice = { id: "alice", maxEntries: 2 };
const response = { ok: true, payload: new Uint8Array([1]) };

function token(claim: Awaited<ReturnType<SqliteDedupStore["claim"]>>): string {
  if (claim.status !== "claimed") throw new Error(`expected claimed, got ${claim.status}`);
  return claim.token;
}

/** The row counts the triggers keep, and the ones a scan finds: they must agree. */
function counts(path: string): { kept: Record<string, number>; scanned: Record<string, number> } {
  const db = new Database(path, { readonly: true });
  try {
    const kept = Object.fromEntries(
      db
        .prepare("SELECT owner, entries FROM assured_dedup_counts")
        .raw()
        .all()
        .map((row) => row as [string, number]),
    );
    const scanned: Record<string, number> = {
      "": db.prepare("SELECT count(*) FROM assured_dedup").pluck().get() as number,
    };
    for (const [owner, n] of db
      .prepare("SELECT owner, count(*) FROM assured_dedup WHERE owner IS NOT NULL GROUP BY owner")
      .raw()
      .all() as [string, number][]) {
      scanned[owner] = n;
    }
    return { kept, scanned };
  } finally {
    db.close();
  }
}

describe("SqliteDedupStore bounds: per owner and in all", () => {
  let now: number;
  const clock = () => now;
  const temp = useTempStores(
    (path, maxEntries?: number) =>
      new SqliteDedupStore({
        path,
        clock,
        sweepIntervalMs: 0,
        ...(maxEntries === undefined ? {} : { maxEntries }),
      }),
  );

  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("keeps exact per-owner and total row counts through claim, complete, release, takeover and sweep", async () => {
    const store = temp.open();
    const a1 = token(await store.claim("a1", { ...lease, owner: alice }));
    const a2 = token(await store.claim("a2", { ...lease, leaseMs: 10, owner: alice }));
    await store.claim("free", lease);
    expect(counts(temp.path)).toEqual({
      kept: { "": 3, alice: 2 },
      scanned: { "": 3, alice: 2 },
    });
    await expect(store.claim("a3", { ...lease, owner: alice })).rejects.toSatisfy(
      code("QUOTA_EXCEEDED"),
    );
    expect(await store.complete("a1", a1, response, { ttlMs: 100 })).toBe(true);
    now += 10; // a2's lease ran out: taken over by another owner
    const b = token(await store.claim("a2", { ...lease, owner: { id: "bob", maxEntries: 5 } }));
    expect(counts(temp.path).kept).toEqual({ "": 3, alice: 1, bob: 1 });
    expect(await store.release("a2", b)).toBe(true);
    expect(await store.release("a2", a2)).toBe(false);
    token(await store.claim("a3", { ...lease, owner: alice }));
    // The released a2 stays, expired and unowned (for its fencing token), until the sweep.
    expect(counts(temp.path)).toEqual({
      kept: { "": 4, alice: 2 },
      scanned: { "": 4, alice: 2 },
    });
    now += 5_000;
    expect(await store.sweepExpired()).toBe(4);
    expect(counts(temp.path)).toEqual({ kept: { "": 0 }, scanned: { "": 0 } });
  });

  it("refuses an owner at its quota until its rows expire; other owners and answers are unaffected", async () => {
    const store = temp.open();
    token(await store.claim("a1", { ...lease, owner: alice }));
    token(await store.claim("a2", { ...lease, leaseMs: 500, owner: alice }));
    await expect(store.claim("a3", { ...lease, owner: alice })).rejects.toSatisfy(
      (e: unknown) =>
        code("QUOTA_EXCEEDED")(e) &&
        (e as { details?: unknown }).details !== undefined &&
        JSON.stringify((e as { details: unknown }).details) === '{"maxEntries":2}',
    );
    expect((await store.claim("a1", { ...lease, owner: alice })).status).toBe("pending");
    token(await store.claim("b1", { ...lease, owner: { id: "bob", maxEntries: 1 } }));
    now += 500; // a2 expired: its row is deleted by the claim at the quota
    token(await store.claim("a3", { ...lease, owner: alice }));
    expect(counts(temp.path).kept).toEqual({ "": 3, alice: 2, bob: 1 });
  });

  it("bounds all rows with maxEntries (LIMIT_EXCEEDED), deleting expired rows first", async () => {
    const store = temp.open(3);
    token(await store.claim("k1", { ...lease, leaseMs: 10 }));
    token(await store.claim("k2", lease));
    token(await store.claim("k3", { ...lease, owner: alice }));
    await expect(store.claim("k4", lease)).rejects.toSatisfy(code("LIMIT_EXCEEDED"));
    now += 10;
    // k1 expired: a claim at the bound deletes expired rows first, so a new key fits.
    token(await store.claim("k4", lease));
    await expect(store.claim("k5", lease)).rejects.toSatisfy(code("LIMIT_EXCEEDED"));
    expect(counts(temp.path).kept[""]).toBe(3);
  });

  it("refuses a bad maxEntries before opening the file", () => {
    for (const maxEntries of [0, -1, 1.5, "10", Number.NaN]) {
      expect(() => temp.open(maxEntries as number)).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });

  it("migrates a schema-1 file: its rows are counted, unowned", async () => {
    const first = temp.open();
    token(await first.claim("old-1", lease));
    token(await first.claim("old-2", lease));
    await first.close();
    // Turn the file back into what release 1 wrote.
    const db = new Database(temp.path);
    db.exec(`
      DROP TRIGGER assured_dedup_count_insert;
      DROP TRIGGER assured_dedup_count_delete;
      DROP TRIGGER assured_dedup_count_owner;
      DROP TABLE assured_dedup_counts;
      DROP INDEX assured_dedup_by_owner;
      ALTER TABLE assured_dedup DROP COLUMN owner;
      ALTER TABLE assured_dedup DROP COLUMN fence;
      ALTER TABLE assured_dedup DROP COLUMN lease_ms;
      UPDATE assured_meta SET value = 1 WHERE key = 'schema_version';
    `);
    db.close();
    const again = temp.open(3);
    expect((await again.claim("old-1", lease)).status).toBe("pending");
    token(await again.claim("new", { ...lease, owner: alice }));
    await expect(again.claim("one-more", lease)).rejects.toSatisfy(code("LIMIT_EXCEEDED"));
    const check = new Database(temp.path, { readonly: true });
    expect(
      check.prepare("SELECT value FROM assured_meta WHERE key = 'schema_version'").pluck().get(),
    ).toBe(SCHEMA_VERSION);
    check.close();
    expect(counts(temp.path)).toEqual({
      kept: { "": 3, alice: 1 },
      scanned: { "": 3, alice: 1 },
    });
  });

  it("holds the quota exactly under concurrent claims from several connections", async () => {
    const connections = Array.from({ length: 6 }, () => temp.open());
    const owner = { id: "alice", maxEntries: 7 };
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => connections[i % 6]!.claim(`k${i}`, { ...lease, owner })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(7);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toSatisfy(code("QUOTA_EXCEEDED"));
    }
    expect(counts(temp.path).kept).toEqual({ "": 7, alice: 7 });
  });
});
