import { describe, expect, it } from "vitest";
import { expectClaimed } from "../assertions.js";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

const lease = { leaseMs: 1_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([42]) };

/** Dedup expiry: leases run out (handler crash) and responses expire after their TTL. */
export function describeDedupExpiry(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("dedup expiry (G9: lease, TTL)", () => {
    const stores = useDedupStores(harness);

    it(
      "stays pending until the lease runs out, then a claim wins with a new token",
      async () => {
        const store = await stores.create();
        const first = expectClaimed(await store.claim("k", lease), "first claim");
        stores.clock.advance(lease.leaseMs - 1);
        expect((await store.claim("k", lease)).status).toBe("pending");
        stores.clock.advance(2);
        const second = expectClaimed(await store.claim("k", lease), "claim after the lease");
        expect(second).not.toBe(first);
      },
      timeout,
    );

    it(
      "refuses the old holder's complete and release after another took the key over",
      async () => {
        const store = await stores.create();
        const stale = expectClaimed(await store.claim("k", lease), "first claim");
        stores.clock.advance(lease.leaseMs + 1);
        const fresh = expectClaimed(await store.claim("k", lease), "takeover");
        expect(await store.complete("k", stale, response, { ttlMs: 60_000 })).toBe(false);
        expect(await store.release("k", stale)).toBe(false);
        expect((await store.claim("k", lease)).status).toBe("pending");
        expect(await store.complete("k", fresh, response, { ttlMs: 60_000 })).toBe(true);
        expect((await store.claim("k", lease)).status).toBe("done");
      },
      timeout,
    );

    it(
      "answers done until the TTL passes, then the key is free for any fingerprint",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        await store.complete("k", token, response, { ttlMs: 5_000 });
        stores.clock.advance(4_999);
        expect((await store.claim("k", lease)).status).toBe("done");
        stores.clock.advance(2);
        expectClaimed(
          await store.claim("k", { ...lease, fingerprint: "another" }),
          "claim after TTL",
        );
      },
      timeout,
    );

    it(
      "measures the TTL from complete, not from the claim",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", { ...lease, leaseMs: 60_000 }), "claim");
        stores.clock.advance(10_000);
        await store.complete("k", token, response, { ttlMs: 5_000 });
        stores.clock.advance(4_000);
        expect((await store.claim("k", lease)).status).toBe("done");
      },
      timeout,
    );
  });
}
