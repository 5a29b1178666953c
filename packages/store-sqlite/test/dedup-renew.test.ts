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

  it("continues the fencing tokens of rows written before fencing (schema 2) from 1", async () => {
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
    expect(claimed(await again.claim("k", lease)).fencingToken).toBe(1);
  });

  it("deletes a released row at the sweep; the key's fencing then starts again at 1", async () => {
    const store = temp.open();
    const first = claimed(await store.claim("k", lease));
    expect(await store.release("k", first.token)).toBe(true);
    expect(await store.sweepExpired()).toBe(1);
    expect(claimed(await store.claim("k", lease)).fencingToken).toBe(1);
  });
});
