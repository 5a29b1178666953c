import { isAssuredError } from "@assured/core";
import type { BatchItemResult, ClaimResult } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import {
  dedupBoundKey,
  dedupOwnerTag,
  dedupQuotaKey,
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
const statusOf = (r: BatchItemResult<ClaimResult>) =>
  r.status === "fulfilled"
    ? r.value.status
    : isAssuredError(r.reason)
      ? r.reason.code
      : String(r.reason);

describe("RedisDedupStore batches on a real redis-server", () => {
  it("raises the sets' TTLs for the items written before one that failed (a write refused midway)", async () => {
    const store = stores.open();
    const alice = { id: "alice", maxEntries: 10 };
    const bob = { id: "bob", maxEntries: 10 };
    // Bob's quota set is taken by a value of another type: his item fails inside the script,
    // after Alice's item created her quota set and the bound set (Redis keeps those writes).
    await stores.redis.set(dedupQuotaKey(stores.prefix, dedupOwnerTag(bob.id)), "not a set");
    await expect(
      store.claimMany([
        { key: "a", options: { ...lease, owner: alice } },
        { key: "b", options: { ...lease, owner: bob } },
      ]),
    ).rejects.toMatchObject({ name: "AssuredError" });
    const aliceQuota = dedupQuotaKey(stores.prefix, dedupOwnerTag(alice.id));
    expect(await stores.redis.zcard(aliceQuota)).toBe(1);
    // Without a TTL these sets would outlive every entry they count.
    expect(await stores.redis.pttl(aliceQuota)).toBeGreaterThan(0);
    expect(await stores.redis.pttl(dedupBoundKey(stores.prefix))).toBeGreaterThan(0);
  });

  it("counts the store's bound in order within a batch, and a place reserved for a claim the quota refused is given back in the same call", async () => {
    const store = stores.open({ maxEntries: 2 });
    const owner = { id: "o", maxEntries: 1 };
    const results = await store.claimMany([
      { key: "a", options: { ...lease, owner } },
      { key: "b", options: { ...lease, owner } },
      { key: "c", options: lease },
      { key: "d", options: lease },
    ]);
    expect(results.map(statusOf)).toEqual([
      "claimed",
      "QUOTA_EXCEEDED",
      "claimed",
      "LIMIT_EXCEEDED",
    ]);
    expect(await stores.redis.zcard(dedupBoundKey(stores.prefix))).toBe(2);
    const tokens = results.map((r) =>
      r.status === "fulfilled" && r.value.status === "claimed" ? r.value.token : "none",
    );
    const stored = await store.completeMany([
      { key: "a", token: tokens[0]!, response, options: { ttlMs: 60_000 } },
      { key: "c", token: tokens[2]!, response, options: { ttlMs: 60_000 } },
      { key: "c", token: tokens[2]!, response, options: { ttlMs: 60_000 } },
      { key: "a", token: "x.not-a-tag", response, options: { ttlMs: 60_000 } },
    ]);
    expect(stored.map((r) => (r.status === "fulfilled" ? r.value : "rejected"))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    // The completed entries' places now last as long as their responses.
    const scores = await stores.redis.zrange(dedupBoundKey(stores.prefix), 0, -1, "WITHSCORES");
    expect(
      scores.filter((_, i) => i % 2 === 1).every((score) => Number(score) > Date.now() + 30_000),
    ).toBe(true);
    expect(await store.claim("a", { ...lease, owner })).toMatchObject({ status: "done" });
  });

  it("answers the batch from one script call on a plain Redis", async () => {
    const store = stores.open();
    // The store's clock read and the batch script loaded (EVALSHA, EVAL after NOSCRIPT).
    await store.claimMany([{ key: "warm-up", options: lease }]);
    const calls: string[] = [];
    const monitor = await stores.redis.duplicate().monitor();
    monitor.on("monitor", (_time: string, args: string[]) => {
      // Only this store's calls (other files may share the server).
      if (!args.some((arg) => arg.includes(stores.prefix))) return;
      if (/^(eval|evalsha)$/i.test(args[0] ?? "")) calls.push(args[0]!);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const results = await store.claimMany(
      ["k1", "k2", "k3", "k4"].map((key, i) => ({
        key,
        options: i % 2 === 0 ? lease : { ...lease, owner: { id: `o${i}`, maxEntries: 5 } },
      })),
    );
    expect(results.map(statusOf)).toEqual(["claimed", "claimed", "claimed", "claimed"]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    monitor.disconnect();
    expect(calls.map((c) => c.toLowerCase())).toEqual(["evalsha"]);
  });
});
