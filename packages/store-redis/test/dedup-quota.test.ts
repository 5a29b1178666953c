import { isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import {
  dedupBoundKey,
  dedupBoundMember,
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

const limit = (e: unknown) => isAssuredError(e, "LIMIT_EXCEEDED");

describe("RedisDedupStore maxEntries (all owners together)", () => {
  it("refuses new keys beyond maxEntries; live keys still answer; expiry and release free room", async () => {
    let now = 1_000;
    const store = stores.open({ clock: () => now, maxEntries: 3 });
    const alice = { id: "alice", maxEntries: 10 };
    const bob = { id: "bob", maxEntries: 10 };
    const a = await store.claim("a", { ...lease, owner: alice });
    const b = await store.claim("b", { ...lease, owner: bob });
    const c = await store.claim("c", lease);
    if (a.status !== "claimed" || b.status !== "claimed" || c.status !== "claimed") {
      throw new Error("expected claims");
    }
    expect(await stores.redis.zcard(dedupBoundKey(stores.prefix))).toBe(3);
    expect(
      await stores.redis.zscore(
        dedupBoundKey(stores.prefix),
        dedupBoundMember(ownedDedupEntryKey(stores.prefix, dedupOwnerTag("alice"), "a")),
      ),
    ).toBe(String(now + 5_000));
    // Full: every owner (and no owner) is refused a new key with LIMIT_EXCEEDED (retryable).
    for (const owner of [alice, bob, { id: "carol", maxEntries: 10 }, undefined]) {
      await expect(
        store.claim("new", { ...lease, ...(owner === undefined ? {} : { owner }) }),
      ).rejects.toSatisfy(limit);
    }
    // An owner at its quota hears so first (final), as in the other stores.
    await expect(
      store.claim("new", { ...lease, owner: { id: "alice", maxEntries: 1 } }),
    ).rejects.toSatisfy(quota);
    // Keys holding an entry still answer, and complete moves the entry's expiry.
    expect(await store.claim("a", { ...lease, owner: alice })).toMatchObject({ status: "pending" });
    expect(await store.claim("c", { ...lease, fingerprint: "other" })).toEqual({
      status: "conflict",
    });
    expect(await store.complete("a", a.token, response, { ttlMs: 60_000 })).toBe(true);
    expect(
      await stores.redis.zscore(
        dedupBoundKey(stores.prefix),
        dedupBoundMember(ownedDedupEntryKey(stores.prefix, dedupOwnerTag("alice"), "a")),
      ),
    ).toBe(String(now + 60_000));
    expect((await store.claim("a", { ...lease, owner: alice })).status).toBe("done");
    // Release frees a place at once.
    expect(await store.release("b", b.token)).toBe(true);
    expect((await store.claim("d", { ...lease, owner: bob })).status).toBe("claimed");
    await expect(store.claim("e", lease)).rejects.toSatisfy(limit);
    // Leases end (c, d): their places are free; the stored response (a) still counts.
    now += 5_000;
    expect((await store.claim("e", lease)).status).toBe("claimed");
    expect((await store.claim("f", { ...lease, owner: bob })).status).toBe("claimed");
    await expect(store.claim("g", { ...lease, owner: alice })).rejects.toSatisfy(limit);
    expect((await store.claim("a", { ...lease, owner: alice })).status).toBe("done");
    now += 60_000;
    expect((await store.claim("g", { ...lease, owner: alice })).status).toBe("claimed");
    expect(await stores.redis.zcard(dedupBoundKey(stores.prefix))).toBe(1);
  });

  it("shares the bound between instances, exactly, under concurrent claims", async () => {
    const connections = [
      stores.open({ maxEntries: 5 }),
      stores.open({ maxEntries: 5 }),
      stores.open({ maxEntries: 5 }),
    ];
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        connections[i % connections.length]!.claim(`k${i}`, {
          ...lease,
          ...(i % 2 === 0 ? { owner: { id: `user${i % 4}`, maxEntries: 100 } } : {}),
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toSatisfy(limit);
    expect(await stores.redis.zcard(dedupBoundKey(stores.prefix))).toBe(5);
  });

  it("a claim refused by its owner's quota takes no place; maxEntries is validated", async () => {
    const store = stores.open({ maxEntries: 2 });
    const owner = { id: "alice", maxEntries: 1 };
    expect((await store.claim("a", { ...lease, owner })).status).toBe("claimed");
    await expect(store.claim("b", { ...lease, owner })).rejects.toSatisfy(quota);
    expect(await stores.redis.zcard(dedupBoundKey(stores.prefix))).toBe(1);
    expect((await store.claim("b", lease)).status).toBe("claimed");
    for (const maxEntries of [0, -1, 1.5, Number.NaN, "10"]) {
      expect(
        () =>
          new RedisDedupStore({
            redis: redisUrl(),
            maxEntries: maxEntries as number,
          }),
      ).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });
});
