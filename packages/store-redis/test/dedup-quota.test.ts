import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import {
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

const lease = { leaseMs: 5_000, fingerprint: "f" };
const response = { ok: true, payload: new Uint8Array([1]) };
const quota = (e: unknown) => isAssuredError(e, "QUOTA_EXCEEDED");

describe("RedisDedupStore quota on a real redis-server", () => {
  it("keeps an owner's entries and its quota set under one hash tag, scored by expiry, with Redis TTLs", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now, expiryGraceMs: 1_000 });
    const owner = { id: "user:{42}\n", maxEntries: 2 };
    const tag = dedupOwnerTag(owner.id);
    const entry = ownedDedupEntryKey(stores.prefix, tag, "k1");
    const set = dedupQuotaKey(stores.prefix, tag);
    // One Cluster slot: the same hash tag, whatever the owner id holds.
    expect(entry).toMatch(new RegExp(`\\{q:${tag}\\}`));
    expect(set).toMatch(new RegExp(`\\{q:${tag}\\}$`));
    const claim = await store.claim("k1", { ...lease, owner });
    if (claim.status !== "claimed") throw new Error("expected a claim");
    expect(claim.token.endsWith(`.${tag}`)).toBe(true);
    expect(await stores.redis.hget(entry, "s")).toBe("p");
    // Only the token's first part is stored: every field fits Redis's compact hash encoding.
    expect(await stores.redis.hget(entry, "t")).toBe(claim.token.split(".")[0]);
    expect(await stores.redis.object("ENCODING", entry)).toMatch(/listpack|ziplist/);
    expect(await stores.redis.zscore(set, "k1")).toBe(String(now + 5_000));
    expect(await stores.redis.pttl(set)).toBeGreaterThan(5_000);
    expect(await store.complete("k1", claim.token, response, { ttlMs: 60_000 })).toBe(true);
    expect(await stores.redis.zscore(set, "k1")).toBe(String(now + 60_000));
    expect(await stores.redis.pttl(set)).toBeGreaterThan(60_000);
    const k2 = await store.claim("k2", { ...lease, owner });
    await expect(store.claim("k3", { ...lease, owner })).rejects.toSatisfy(quota);
    if (k2.status !== "claimed") throw new Error("expected a claim");
    expect(await store.release("k2", k2.token)).toBe(true);
    expect(await stores.redis.zrange(set, 0, -1)).toEqual(["k1"]);
    now += 60_000;
    // The expired member is dropped by the next claim that needs the count.
    const fresh = await store.claim("k4", { ...lease, owner });
    expect(fresh.status).toBe("claimed");
    expect(await stores.redis.zrange(set, 0, -1)).toEqual(["k4"]);
  });

  it("refuses tokens it cannot have issued without touching Redis, and keeps owners apart", async () => {
    const store = stores.open();
    const alice = { id: "alice", maxEntries: 1 };
    const claim = await store.claim("k", { ...lease, owner: alice });
    if (claim.status !== "claimed") throw new Error("expected a claim");
    const id = claim.token.split(".")[0]!;
    expect(await store.complete("k", `${id}.not-a-tag`, response, { ttlMs: 1_000 })).toBe(false);
    expect(await store.release("k", id)).toBe(false);
    expect(await store.release("k", `${id}.${dedupOwnerTag("bob")}`)).toBe(false);
    await expect(store.claim("k2", { ...lease, owner: alice })).rejects.toSatisfy(quota);
    expect(
      (await store.claim("k2", { ...lease, owner: { id: "bob", maxEntries: 1 } })).status,
    ).toBe("claimed");
    expect(await store.release("k", claim.token)).toBe(true);
  });

  it("holds the quota exactly under concurrent claims on several connections", async () => {
    const connections = [stores.open(), stores.open(), stores.open(), stores.open()];
    const owner = { id: "alice", maxEntries: 7 };
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        connections[i % connections.length]!.claim(`k${i}`, { ...lease, owner }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(7);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toSatisfy(quota);
    expect(await stores.redis.zcard(dedupQuotaKey(stores.prefix, dedupOwnerTag("alice")))).toBe(7);
  });
});
