import { isAssuredError } from "@assured/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  dedupBoundKey,
  dedupBoundMember,
  dedupEntryKey,
  dedupOwnerTag,
  dedupQuotaKey,
  ownedDedupEntryKey,
  RedisDedupStore,
  type RedisDedupStoreOptions,
} from "../src/index.js";
import { redisUrl, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix, options: Partial<RedisDedupStoreOptions> = {}) =>
    new RedisDedupStore({ redis: redisUrl(), keyPrefix, ...options }),
);
const HOUR = 3_600_000;
const lease = { leaseMs: 1_000, fingerprint: "f" };

function claimed(claim: Awaited<ReturnType<RedisDedupStore["claim"]>>) {
  if (claim.status !== "claimed") throw new Error(`expected claimed, got ${claim.status}`);
  return claim;
}

afterEach(() => vi.useRealTimers());

describe("RedisDedupStore renew and fencing on a real redis-server", () => {
  it("stores the fencing token in the entry and keeps a released entry, expired, until its Redis TTL", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now, expiryGraceMs: 5_000 });
    const entry = dedupEntryKey(stores.prefix, "k");
    const first = claimed(await store.claim("k", lease));
    const n = String(first.fencingToken);
    expect(await stores.redis.hget(entry, "n")).toBe(n);
    expect(await store.release("k", first.token)).toBe(true);
    expect(await stores.redis.hmget(entry, "s", "t", "x", "n")).toEqual(["p", null, "0", n]);
    expect(await stores.redis.pttl(entry)).toBeGreaterThan(0);
    now += 1;
    expect(claimed(await store.claim("k", lease)).fencingToken).toBeGreaterThan(first.fencingToken);
  });

  it("gives a key whose hash Redis expired a fencing token larger than a stalled holder's, from the server's TIME", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now });
    const entry = dedupEntryKey(stores.prefix, "k");
    claimed(await store.claim("k", lease));
    now += 1_001;
    const stalled = claimed(await store.claim("k", lease)); // its holder freezes past the lease
    expect(stalled.fencingToken).toBeGreaterThanOrEqual(2);
    // Redis expires the hash (its TTL is the lease plus the grace): the key starts again.
    expect(await stores.redis.pexpire(entry, 1)).toBe(1);
    await vi.waitUntil(async () => (await stores.redis.exists(entry)) === 0);
    now += 60_000;
    const [seconds, micros] = await stores.redis.time();
    const next = claimed(await store.claim("k", lease));
    expect(next.fencingToken).toBeGreaterThan(stalled.fencingToken);
    expect(next.fencingToken).toBeGreaterThanOrEqual(
      Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000),
    );
    expect(await stores.redis.hget(entry, "n")).toBe(String(next.fencingToken));
  });

  it("moves the entry's expiry, Redis TTL and place in the bound set with a renewal", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now, expiryGraceMs: 1_000 });
    const entry = dedupEntryKey(stores.prefix, "k");
    const { token } = claimed(await store.claim("k", lease));
    now += 500;
    expect(await store.renew("k", token, 60_000)).toBe(true);
    expect(await stores.redis.hget(entry, "x")).toBe(String(now + 60_000));
    expect(await stores.redis.pttl(entry)).toBeGreaterThan(59_000);
    expect(
      Number(await stores.redis.zscore(dedupBoundKey(stores.prefix), dedupBoundMember(entry))),
    ).toBe(now + 60_000);
  });

  it("counts a renewed owned entry against its owner's quota until the renewed lease ends", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now });
    const owner = { id: "alice", maxEntries: 1 };
    const set = dedupQuotaKey(stores.prefix, dedupOwnerTag(owner.id));
    const { token } = claimed(await store.claim("k1", { ...lease, owner }));
    expect(await store.renew("k1", token, 10_000)).toBe(true);
    expect(Number(await stores.redis.zscore(set, "k1"))).toBe(now + 10_000);
    now += 5_000; // past the claim's lease, within the renewal
    const refused = await store.claim("k2", { ...lease, owner }).catch((e: unknown) => e);
    expect(isAssuredError(refused, "QUOTA_EXCEEDED")).toBe(true);
    const entry = ownedDedupEntryKey(stores.prefix, dedupOwnerTag(owner.id), "k1");
    expect(await stores.redis.hget(entry, "x")).toBe(String(1_000 + 10_000));
    now += 5_001;
    expect(await store.renew("k1", token, 10_000)).toBe(false);
    expect(claimed(await store.claim("k2", { ...lease, owner })).fencingToken).toBeGreaterThan(0);
  });

  it("G9: renews by the Redis server's clock: a node an hour behind keeps the lease alive", async () => {
    const holder = stores.open();
    const { token } = claimed(await holder.claim("k", { ...lease, leaseMs: 60_000 }));
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() - HOUR);
    const behind = stores.open();
    expect(await behind.renew("k", token, 60_000)).toBe(true);
    vi.useRealTimers();
    const other = stores.open();
    expect((await other.claim("k", lease)).status).toBe("pending");
  });

  it("G9: renews by the Redis server's clock: a node an hour ahead does not stretch the lease by an hour", async () => {
    const holder = stores.open();
    const { token } = claimed(await holder.claim("k", { ...lease, leaseMs: 60_000 }));
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + HOUR);
    const ahead = stores.open();
    expect(await ahead.renew("k", token, 60_000)).toBe(true);
    vi.useRealTimers();
    const pending = await stores.open().claim("k", lease);
    if (pending.status !== "pending") throw new Error(`expected pending, got ${pending.status}`);
    expect(pending.leaseExpiresAt - Date.now()).toBeLessThan(2 * 60_000);
  });
});
