import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { SqliteDedupStore } from "../src/index.js";
import { useTempStores } from "./support/temp-database.js";

const lease = { leaseMs: 1_000, fingerprint: "fp" };

function claimed(claim: Awaited<ReturnType<SqliteDedupStore["claim"]>>) {
  if (claim.status !== "claimed") throw new Error(`expected claimed, got ${claim.status}`);
  return claim;
}

describe("SqliteDedupStore renew and fencing", () => {
  let now: number;
  const clock = () => now;
  const temp = useTempStores((path) => new SqliteDedupStore({ path, clock, sweepIntervalMs: 0 }));

  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("keeps a lease renewed for longer than the claims' lease: a duplicate's claim does not cut it to its own leaseMs", async () => {
    const store = temp.open();
    const { token } = claimed(await store.claim("k", lease));
    expect(await store.renew("k", token, 60_000)).toBe(true);
    now += 30_000;
    expect(await store.claim("k", lease)).toEqual({
      status: "pending",
      leaseExpiresAt: now + 30_000,
    });
    now += 29_999;
    expect((await store.claim("k", lease)).status).toBe("pending");
    expect(await store.renew("k", token, 1_000)).toBe(true);
  });

  it("still bounds a lease stamped by a clock far ahead by the longest lease asked for", async () => {
    const store = temp.open();
    now += 3_600_000; // a clock an hour ahead stamps the lease
    const { token } = claimed(await store.claim("k", lease));
    expect(await store.renew("k", token, 5_000)).toBe(true);
    now -= 3_600_000; // the clock steps back
    expect(await store.claim("k", lease)).toEqual({
      status: "pending",
      leaseExpiresAt: now + 5_000,
    });
  });

  it("continues the fencing tokens of rows written before fencing (schema 2) from the clock", async () => {
    const first = temp.open();
    const old = claimed(await first.claim("k", lease));
    await first.close();
    // Turn the file back into what release 2 wrote.
    const db = new Database(temp.path);
    db.exec(`
      ALTER TABLE assured_dedup DROP COLUMN fence;
      ALTER TABLE assured_dedup DROP COLUMN lease_ms;
      UPDATE assured_meta SET value = 2 WHERE key = 'schema_version';
    `);
    db.close();
    const again = temp.open();
    expect(await again.renew("k", old.token, 5_000)).toBe(true);
    now += 4_000;
    expect((await again.claim("k", lease)).status).toBe("pending");
    expect(await again.release("k", old.token)).toBe(true);
    expect(claimed(await again.claim("k", lease)).fencingToken).toBe(now);
  });

  it("gives a key whose row the sweep deleted a fencing token larger than a stalled holder's", async () => {
    const store = temp.open();
    // A clock at 0 makes the tokens of a store that forgets them (1, 2, 3, then 1) visible.
    now = 0;
    claimed(await store.claim("k", lease));
    now += 1_001;
    claimed(await store.claim("k", lease));
    now += 1_001;
    const stalled = claimed(await store.claim("k", lease)); // its holder freezes past the lease
    now += 60_000;
    expect(await store.sweepExpired()).toBe(1);
    const next = claimed(await store.claim("k", lease));
    expect(next.fencingToken).toBeGreaterThan(stalled.fencingToken);
    expect(next.fencingToken).toBe(now);
  });

  it("keeps a released row until the clock passes its token: a claim in the same millisecond gets a larger one", async () => {
    const store = temp.open();
    const first = claimed(await store.claim("k", lease));
    expect(first.fencingToken).toBe(now);
    expect(await store.release("k", first.token)).toBe(true);
    expect(await store.sweepExpired(), "kept: the clock has not passed its token").toBe(0);
    const second = claimed(await store.claim("k", lease));
    expect(second.fencingToken).toBe(now + 1);
    expect(await store.release("k", second.token)).toBe(true);
    now += 2;
    expect(await store.sweepExpired()).toBe(1);
    expect(claimed(await store.claim("k", lease)).fencingToken).toBe(now);
  });

  it("frees an owner's place for an expired row kept for its token", async () => {
    const store = temp.open();
    const owner = { id: "o", maxEntries: 1 };
    const first = claimed(await store.claim("k", { ...lease, owner }));
    expect(await store.release("k", first.token)).toBe(true);
    const again = claimed(await store.claim("k", { leaseMs: 1, fingerprint: "fp", owner }));
    expect(again.fencingToken).toBe(now + 1);
    now += 1; // the lease ended; the clock has not passed the token
    expect(claimed(await store.claim("k2", { ...lease, owner })).fencingToken).toBe(now);
    expect(claimed(await store.claim("k", lease)).fencingToken).toBe(now + 1);
  });
});
