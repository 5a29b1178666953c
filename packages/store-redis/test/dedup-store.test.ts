import { encode, isAssuredError } from "@assured/core";
import { describe, expect, it } from "vitest";
import { dedupEntryKey, RedisDedupStore, type RedisDedupStoreOptions } from "../src/index.js";
import { redisUrl, rejection, useIsolatedStores } from "./redis-fixture.js";

const stores = useIsolatedStores(
  (keyPrefix, options: Partial<RedisDedupStoreOptions> = {}) =>
    new RedisDedupStore({ redis: redisUrl(), keyPrefix, ...options }),
);
const open = stores.open;

const response = { ok: true, payload: encode({ result: 42 }) };

describe("RedisDedupStore on a real redis-server", () => {
  it("G9: exactly one of many concurrent claims on several connections wins", async () => {
    const stores = [open(), open(), open(), open()];
    const claims = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        stores[i % stores.length]!.claim("k", { leaseMs: 60_000, fingerprint: "f" }),
      ),
    );
    expect(claims.filter((c) => c.status === "claimed")).toHaveLength(1);
    expect(claims.filter((c) => c.status === "pending")).toHaveLength(39);
  });

  it("G9: after complete every claim gets done with the stored response", async () => {
    const now = 1_000;
    const store = open({ clock: () => now });
    const claim = await store.claim("k", { leaseMs: 5_000, fingerprint: "f" });
    expect(claim.status).toBe("claimed");
    if (claim.status !== "claimed") return;
    expect(await store.claim("k", { leaseMs: 5_000, fingerprint: "f" })).toEqual({
      status: "pending",
      leaseExpiresAt: 6_000,
    });
    expect(await store.complete("k", claim.token, response, { ttlMs: 10_000 })).toBe(true);
    const done = await store.claim("k", { leaseMs: 5_000, fingerprint: "f" });
    expect(done).toEqual({ status: "done", response });
    if (done.status === "done") expect(done.response.payload.constructor).toBe(Uint8Array);
    const failed = { ok: false, payload: new Uint8Array([1, 2]) };
    const other = await store.claim("k2", { leaseMs: 5_000, fingerprint: "f" });
    if (other.status === "claimed") await store.complete("k2", other.token, failed, { ttlMs: 10 });
    expect(await store.claim("k2", { leaseMs: 5_000, fingerprint: "f" })).toEqual({
      status: "done",
      response: failed,
    });
  });

  it("G9: the same key with another fingerprint conflicts, while pending and when done", async () => {
    const store = open();
    const claim = await store.claim("k", { leaseMs: 60_000, fingerprint: "f1" });
    expect(await store.claim("k", { leaseMs: 60_000, fingerprint: "f2" })).toEqual({
      status: "conflict",
    });
    if (claim.status === "claimed")
      await store.complete("k", claim.token, response, { ttlMs: 60_000 });
    expect(await store.claim("k", { leaseMs: 60_000, fingerprint: "f2" })).toEqual({
      status: "conflict",
    });
  });

  it("G9: an expired lease (by the injected clock) can be claimed again; the old token is refused", async () => {
    let now = 0;
    const store = open({ clock: () => now });
    const first = await store.claim("k", { leaseMs: 1_000, fingerprint: "f" });
    now = 1_000;
    const second = await store.claim("k", { leaseMs: 1_000, fingerprint: "f" });
    expect(second.status).toBe("claimed");
    if (first.status !== "claimed" || second.status !== "claimed") return;
    expect(second.token).not.toBe(first.token);
    expect(await store.complete("k", first.token, response, { ttlMs: 1_000 })).toBe(false);
    expect(await store.release("k", first.token)).toBe(false);
    expect(await store.complete("k", second.token, response, { ttlMs: 1_000 })).toBe(true);
  });

  it("a done response expires after ttlMs (by the injected clock)", async () => {
    let now = 0;
    const store = open({ clock: () => now });
    const claim = await store.claim("k", { leaseMs: 1_000, fingerprint: "f" });
    if (claim.status === "claimed")
      await store.complete("k", claim.token, response, { ttlMs: 5_000 });
    now = 4_999;
    expect((await store.claim("k", { leaseMs: 1_000, fingerprint: "f" })).status).toBe("done");
    now = 5_000;
    expect((await store.claim("k", { leaseMs: 1_000, fingerprint: "other" })).status).toBe(
      "claimed",
    );
  });

  it("release frees the key at once, only for the current token", async () => {
    const store = open();
    const claim = await store.claim("k", { leaseMs: 60_000, fingerprint: "f" });
    if (claim.status !== "claimed") throw new Error("not claimed");
    expect(await store.release("k", "not-the-token")).toBe(false);
    expect(await store.release("k", claim.token)).toBe(true);
    expect(await store.release("k", claim.token)).toBe(false);
    expect((await store.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe("claimed");
  });

  it("stores one hash per key with a Redis TTL that bounds memory", async () => {
    const store = open({ expiryGraceMs: 30_000 });
    const key = "user:1/{msg}\n9";
    const claim = await store.claim(key, { leaseMs: 2_000, fingerprint: "f" });
    const redisKey = dedupEntryKey(stores.prefix, key);
    expect(redisKey).toBe(`${stores.prefix}dedup:{${Buffer.from(key).toString("base64url")}}`);
    expect(await stores.redis.hget(redisKey, "s")).toBe("p");
    const pttl = await stores.redis.pttl(redisKey);
    // leaseMs + expiryGraceMs, minus however long this machine took since the claim.
    expect(pttl).toBeGreaterThan(27_000);
    expect(pttl).toBeLessThanOrEqual(32_000);
    if (claim.status === "claimed")
      await store.complete(key, claim.token, response, { ttlMs: 50_000 });
    expect(await stores.redis.hget(redisKey, "s")).toBe("d");
    expect(await stores.redis.pttl(redisKey)).toBeGreaterThan(75_000);
  });

  it("G12: invalid arguments are typed errors; STORE_CLOSED after close", async () => {
    const store = open();
    const bad: Promise<unknown>[] = [
      store.claim("", { leaseMs: 1, fingerprint: "f" }),
      store.claim("x".repeat(513), { leaseMs: 1, fingerprint: "f" }),
      store.claim("k\uDC00", { leaseMs: 1, fingerprint: "f" }),
      store.claim("k", { leaseMs: 0, fingerprint: "f" }),
      store.claim("k", { leaseMs: 1, fingerprint: "" }),
      store.claim("k", null as never),
      store.complete("k", "t", { ok: "yes", payload: new Uint8Array() } as never, { ttlMs: 1 }),
      store.complete("k", "t", { ok: true, payload: [] } as never, { ttlMs: 1 }),
      store.complete("k", "t", response, { ttlMs: -1 }),
      store.release("k", ""),
    ];
    for (const promise of bad) {
      expect(isAssuredError(await rejection(promise), "INVALID_ARGUMENT")).toBe(true);
    }
    expect(() => new RedisDedupStore({ redis: redisUrl(), expiryGraceMs: 0 })).toThrowError(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    for (const [options, name] of [
      [{ redis: redisUrl(), maxEntry: 5 }, "maxEntry"],
      [{ redis: redisUrl(), retention: { maxLength: 5 } }, "retention"],
    ] as const) {
      expect(() => new RedisDedupStore(options as never)).toThrowError(
        expect.objectContaining({
          code: "INVALID_ARGUMENT",
          message: expect.stringContaining(`unknown option "${name}" of RedisDedupStore`),
        }),
      );
    }
    await store.close();
    const closed = await rejection(store.claim("k", { leaseMs: 1, fingerprint: "f" }));
    expect(isAssuredError(closed, "STORE_CLOSED")).toBe(true);
  });

  it("an unreachable Redis gives STORE_UNAVAILABLE", async () => {
    const store = new RedisDedupStore({
      redis: { host: "127.0.0.1", port: 1, maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const error = await rejection(store.claim("k", { leaseMs: 1_000, fingerprint: "f" }));
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    await store.close();
  });
});
