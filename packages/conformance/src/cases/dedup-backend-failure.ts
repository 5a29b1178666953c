import { describe, expect, it } from "vitest";
import { expectClaimed, expectSameBytes } from "../assertions.js";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { expectUnavailable, onceRestored, requireBreakBackend, settleLimit } from "../outage.js";
import { caseTimeout } from "../suite-options.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };
const ttl = { ttlMs: 60_000 };
const stored = { ok: true, payload: new Uint8Array([1, 2, 3]) };
const late = { ok: true, payload: new Uint8Array([9, 8]) };

/**
 * Dedup backend failure: with the backend broken, every method rejects fast with
 * `STORE_UNAVAILABLE`; once restored, the same instance works again on intact claims, and a
 * failed `complete` happened fully or not at all.
 */
export function describeDedupBackendFailure(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  const limit = settleLimit(timeout);
  describe("dedup backend failure (STORE_UNAVAILABLE, recovery)", () => {
    const stores = useDedupStores(harness);

    it(
      "rejects claim, complete, release and renew with STORE_UNAVAILABLE while the backend is down",
      async (context) => {
        const store = await stores.create();
        requireBreakBackend(context, stores);
        const held = expectClaimed(await store.claim("held", lease), "claim");
        const done = expectClaimed(await store.claim("done", lease), "claim");
        await store.complete("done", done, stored, ttl);
        const outage = await stores.breakBackend(store);
        await expectUnavailable(() => store.claim("new", lease), "claim", limit);
        await expectUnavailable(() => store.claim("done", lease), "claim", limit);
        await expectUnavailable(() => store.complete("held", held, late, ttl), "complete", limit);
        await expectUnavailable(() => store.release("held", held), "release", limit);
        await expectUnavailable(() => store.renew("held", held, 10_000), "renew", limit);
        await outage.restore();
      },
      timeout,
    );

    it(
      "works again on the same instance once restored: claims intact, a failed complete all or nothing",
      async (context) => {
        const store = await stores.create();
        requireBreakBackend(context, stores);
        const done = expectClaimed(await store.claim("done", lease), "claim");
        await store.complete("done", done, stored, ttl);
        const held = expectClaimed(await store.claim("held", lease), "claim");
        const outage = await stores.breakBackend(store);
        await expectUnavailable(() => store.complete("held", held, late, ttl), "complete", limit);
        await outage.restore();
        const kept = await onceRestored(() => store.claim("done", lease), "claim", limit);
        expect(kept.status, "a response stored before the outage").toBe("done");
        if (kept.status === "done")
          expectSameBytes(kept.response.payload, stored.payload, "response");
        const after = await store.claim("held", lease);
        expect(
          ["done", "pending"],
          `a failed complete must have happened fully (done) or not at all (pending), got ${after.status}`,
        ).toContain(after.status);
        if (after.status === "pending") {
          expect(await store.complete("held", held, late, ttl), "complete again").toBe(true);
        }
        const completed = await store.claim("held", lease);
        expect(completed.status).toBe("done");
        if (completed.status === "done") {
          expectSameBytes(completed.response.payload, late.payload, "response");
        }
        const fresh = expectClaimed(await store.claim("fresh", lease), "a new claim");
        expect(await store.renew("fresh", fresh, 10_000)).toBe(true);
        expect(await store.release("fresh", fresh)).toBe(true);
      },
      timeout,
    );
  });
}
