import type { ClaimResult, DedupStore } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectAssuredError, expectClaimed } from "../assertions.js";
import { requirePersistent, requireShared, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout, instanceCount } from "../suite-options.js";

const CLAIMERS = 50;
/** Keys whose complete (then release) is issued beside the holder's renewal. */
const OVERLAPS = 20;
/** How far the clock moves past a lease before the drop: a day, past any lease and TTL here. */
const DROP_AFTER_MS = 86_400_000;
/** Claims of other keys made after that, so a store that sweeps a few keys per claim drops it. */
const DROP_TRIGGER_CLAIMS = 16;
const lease = { leaseMs: 1_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([7]) };
const BAD_KEYS: readonly unknown[] = ["", "k".repeat(513), 7, null, undefined, {}, "a\uD800"];
const BAD_TOKENS: readonly unknown[] = ["", null, undefined, 5, {}];
const BAD_LEASES: readonly unknown[] = [
  0,
  -1,
  1.5,
  "1000",
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  undefined,
];

/** Expects a won claim and returns its token and fencing token (a positive safe integer). */
function expectFenced(result: ClaimResult, what: string): { token: string; fence: number } {
  const token = expectClaimed(result, what);
  const fence = (result as { fencingToken?: unknown }).fencingToken;
  expect(
    typeof fence === "number" && Number.isSafeInteger(fence) && fence > 0,
    `${what}: fencingToken ${String(fence)} is a positive safe integer`,
  ).toBe(true);
  return { token, fence: fence as number };
}

/** Expects exactly one winner among `results` (the others pending); returns its fencing token. */
function expectOneFencedWinner(results: ClaimResult[]): number {
  const winners = results.filter((r) => r.status === "claimed");
  expect(winners, "claims that won").toHaveLength(1);
  expect(results.filter((r) => r.status === "pending")).toHaveLength(results.length - 1);
  return expectFenced(winners[0]!, "the winner").fence;
}

/**
 * Dedup lease renewal and fencing (DESIGN.md §8: leases are renewed and fenced): `renew`
 * extends only the current holder's lease, and every claim's `fencingToken` is larger than the
 * key's earlier ones, across takeovers, releases, restarts and drops of the expired entry.
 */
export function describeDedupRenew(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  const spread = instanceCount(options, CLAIMERS);
  const bad = <T>(value: unknown) => value as T;
  describe("dedup renew and fencing (§8: renewed, fenced leases)", () => {
    const stores = useDedupStores(harness);

    it(
      "keeps a renewed lease alive past its original end, for the same token",
      async () => {
        const store = await stores.create();
        const { token } = expectFenced(await store.claim("k", lease), "claim");
        stores.clock.advance(800);
        expect(await store.renew("k", token, 1_000), "renew before the end").toBe(true);
        const renewedEnd = stores.clock() + 1_000;
        stores.clock.advance(800); // past the original end, before the renewed one
        expect(await store.claim("k", lease)).toEqual({
          status: "pending",
          leaseExpiresAt: renewedEnd,
        });
        expect(await store.renew("k", token, 1_000), "renew again").toBe(true);
        stores.clock.advance(999);
        expect((await store.claim("k", lease)).status).toBe("pending");
        expect(await store.complete("k", token, response, { ttlMs: 60_000 })).toBe(true);
        expect((await store.claim("k", lease)).status).toBe("done");
      },
      timeout,
    );

    it(
      "lets the key be taken over once a renewed lease runs out",
      async () => {
        const store = await stores.create();
        const first = expectFenced(await store.claim("k", lease), "claim");
        expect(await store.renew("k", first.token, 5_000)).toBe(true);
        stores.clock.advance(4_999);
        expect((await store.claim("k", lease)).status).toBe("pending");
        stores.clock.advance(2);
        const second = expectFenced(await store.claim("k", lease), "takeover");
        expect(second.fence).toBeGreaterThan(first.fence);
        expect(await store.renew("k", first.token, 5_000), "the old holder's renew").toBe(false);
      },
      timeout,
    );

    it(
      "refuses renew by a token that was taken over, and leaves the new holder's lease",
      async () => {
        const store = await stores.create();
        const stale = expectFenced(await store.claim("k", lease), "first claim");
        stores.clock.advance(lease.leaseMs + 1);
        const fresh = expectFenced(await store.claim("k", lease), "takeover");
        const freshEnd = stores.clock() + lease.leaseMs;
        expect(await store.renew("k", stale.token, 60_000)).toBe(false);
        expect(await store.claim("k", lease)).toEqual({
          status: "pending",
          leaseExpiresAt: freshEnd,
        });
        expect(await store.complete("k", stale.token, response, { ttlMs: 60_000 })).toBe(false);
        expect(await store.renew("k", fresh.token, 60_000)).toBe(true);
      },
      timeout,
    );

    it(
      "refuses renew after the lease expired, even before anyone took the key over",
      async () => {
        const store = await stores.create();
        const { token, fence } = expectFenced(await store.claim("k", lease), "claim");
        stores.clock.advance(lease.leaseMs);
        expect(await store.renew("k", token, 60_000)).toBe(false);
        const next = expectFenced(await store.claim("k", lease), "claim after expiry");
        expect(next.fence).toBeGreaterThan(fence);
      },
      timeout,
    );

    it(
      "refuses renew by a completed, a released, a wrong and an unknown key's token",
      async () => {
        const store = await stores.create();
        const done = expectFenced(await store.claim("done", lease), "claim done");
        expect(await store.complete("done", done.token, response, { ttlMs: 60_000 })).toBe(true);
        expect(await store.renew("done", done.token, 60_000), "completed").toBe(false);
        expect((await store.claim("done", lease)).status).toBe("done");

        const released = expectFenced(await store.claim("free", lease), "claim free");
        expect(await store.release("free", released.token)).toBe(true);
        expect(await store.renew("free", released.token, 60_000), "released").toBe(false);
        expect(await store.release("free", released.token), "released twice").toBe(false);
        expect(await store.complete("free", released.token, response, { ttlMs: 1_000 })).toBe(
          false,
        );

        const held = expectFenced(await store.claim("held", lease), "claim held");
        expect(await store.renew("held", `${held.token}x`, 60_000), "wrong token").toBe(false);
        expect(await store.renew("held", released.token, 60_000), "another key's").toBe(false);
        expect(await store.renew("unknown", held.token, 60_000), "unknown key").toBe(false);
        expect((await store.claim("unknown", lease)).status).toBe("claimed");
      },
      timeout,
    );

    it(
      "gives fencing tokens that grow with every claim: after a takeover, a release and a TTL",
      async () => {
        const store = await stores.create();
        const first = expectFenced(await store.claim("k", lease), "fresh key");
        stores.clock.advance(lease.leaseMs + 1);
        const second = expectFenced(await store.claim("k", lease), "takeover");
        expect(second.fence, "after a takeover").toBeGreaterThan(first.fence);
        expect(await store.release("k", second.token)).toBe(true);
        const third = expectFenced(await store.claim("k", lease), "claim after release");
        expect(third.fence, "after a release (the same millisecond)").toBeGreaterThan(second.fence);
        expect(await store.complete("k", third.token, response, { ttlMs: 1_000 })).toBe(true);
        stores.clock.advance(1_001);
        const fourth = expectFenced(await store.claim("k", lease), "claim after the TTL");
        expect(fourth.fence, "after the response expired").toBeGreaterThan(third.fence);
        expectFenced(await store.claim("other", lease), "another key");
      },
      timeout,
    );

    it(
      "gives a key claimed again after its entry was dropped a fencing token larger than a stalled holder's",
      async () => {
        const store = await stores.create();
        expectFenced(await store.claim("k", lease), "fresh key");
        stores.clock.advance(lease.leaseMs + 1);
        expectFenced(await store.claim("k", lease), "first takeover");
        stores.clock.advance(lease.leaseMs + 1);
        // The holder of `stalled` freezes (a GC pause, a frozen node) past its lease.
        const stalled = expectFenced(await store.claim("k", lease), "second takeover");
        stores.clock.advance(DROP_AFTER_MS);
        // Claims of other keys give the store its chance to drop the expired entry (a store may
        // drop expired entries on claims, on a timer, or never: the answer is the same).
        for (let n = 0; n < DROP_TRIGGER_CLAIMS; n++) {
          expectFenced(await store.claim(`other-${n}`, lease), `claim of other-${n}`);
        }
        const next = expectFenced(await store.claim("k", lease), "claim after the drop");
        expect(
          next.fence,
          "the new holder's fencing token exceeds the stalled holder's (else fenced resources would prefer the stalled one)",
        ).toBeGreaterThan(stalled.fence);
        expect(await store.complete("k", stalled.token, response, { ttlMs: 1_000 })).toBe(false);
        expect(await store.complete("k", next.token, response, { ttlMs: 1_000 })).toBe(true);
      },
      timeout,
    );

    it(
      "keeps fencing tokens and renewed leases across a restart",
      async (context) => {
        const store = await stores.create();
        requirePersistent(context, stores, store);
        const first = expectFenced(await store.claim("k", lease), "claim");
        stores.clock.advance(lease.leaseMs + 1);
        const second = expectFenced(await store.claim("k", lease), "takeover");
        await store.close();
        const restarted = await stores.reopen(store);
        stores.clock.advance(500);
        expect(await restarted.renew("k", second.token, 10_000), "renew after restart").toBe(true);
        stores.clock.advance(5_000);
        expect((await restarted.claim("k", lease)).status).toBe("pending");
        expect(await restarted.release("k", second.token)).toBe(true);
        await restarted.close();
        const again = await stores.reopen(store);
        const third = expectFenced(await again.claim("k", lease), "claim after release");
        expect(second.fence).toBeGreaterThan(first.fence);
        expect(third.fence).toBeGreaterThan(second.fence);
      },
      timeout,
    );

    it(
      `lets exactly one of ${CLAIMERS} concurrent claims after a lease expiry win, with a larger fencing token`,
      async () => {
        const store = await stores.create();
        const first = expectFenced(await store.claim("k", lease), "claim");
        stores.clock.advance(lease.leaseMs + 1);
        const results = await Promise.all(
          Array.from({ length: CLAIMERS }, () => store.claim("k", lease)),
        );
        expect(expectOneFencedWinner(results)).toBeGreaterThan(first.fence);
      },
      timeout,
    );

    it(
      `lets exactly one of ${CLAIMERS} concurrent claims on ${spread} instances after a lease expiry win, with a larger fencing token`,
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first);
        const instances: DedupStore[] = [first];
        while (instances.length < spread) instances.push(await stores.reopen(first));
        const held = expectFenced(await first.claim("k", lease), "claim");
        stores.clock.advance(lease.leaseMs + 1);
        const results = await Promise.all(
          Array.from({ length: CLAIMERS }, (_, n) => instances[n % spread]!.claim("k", lease)),
        );
        expect(expectOneFencedWinner(results)).toBeGreaterThan(held.fence);
        expect(await instances[1 % spread]!.renew("k", held.token, 60_000)).toBe(false);
      },
      timeout,
    );

    it(
      `stores a holder's response, or frees its key, while its own renewal is in flight (${OVERLAPS} keys each)`,
      async () => {
        const store = await stores.create();
        const claimAll = async (prefix: string) => {
          const tokens: string[] = [];
          for (let n = 0; n < OVERLAPS; n++) {
            tokens.push(expectFenced(await store.claim(`${prefix}${n}`, lease), "claim").token);
          }
          return tokens;
        };
        // A handler answers while the lease keeper's renewal is still on its way: the complete
        // must not be refused by it (the response would go unstored and the message run again).
        const completed = await claimAll("c");
        const outcomes = await Promise.all(
          completed.map((token, n) =>
            Promise.all([
              store.renew(`c${n}`, token, 60_000),
              store.complete(`c${n}`, token, response, { ttlMs: 60_000 }),
            ]),
          ),
        );
        outcomes.forEach(([, stored], n) => {
          expect(stored, `complete of c${n}, issued beside its renewal`).toBe(true);
        });
        for (let n = 0; n < OVERLAPS; n++) {
          expect((await store.claim(`c${n}`, lease)).status, `claim of c${n} after`).toBe("done");
        }
        // A handler throws (the key is given up) while the renewal is on its way: the key is free.
        const released = await claimAll("r");
        const releases = await Promise.all(
          released.map((token, n) =>
            Promise.all([store.renew(`r${n}`, token, 60_000), store.release(`r${n}`, token)]),
          ),
        );
        releases.forEach(([, freed], n) => {
          expect(freed, `release of r${n}, issued beside its renewal`).toBe(true);
        });
        for (let n = 0; n < OVERLAPS; n++) {
          expect((await store.claim(`r${n}`, lease)).status, `claim of r${n} after`).toBe(
            "claimed",
          );
        }
      },
      timeout,
    );

    it(
      "shows a renewal on one instance to a claim on another",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first);
        const second = await stores.reopen(first);
        const { token } = expectFenced(await first.claim("k", lease), "claim");
        stores.clock.advance(900);
        expect(await second.renew("k", token, 1_000)).toBe(true);
        stores.clock.advance(900);
        expect((await first.claim("k", lease)).status).toBe("pending");
        expect((await second.claim("k", lease)).status).toBe("pending");
      },
      timeout,
    );

    it(
      "rejects bad keys, tokens and leases with INVALID_ARGUMENT and keeps the lease",
      async () => {
        const store = await stores.create();
        const { token } = expectFenced(await store.claim("k", lease), "claim");
        for (const key of BAD_KEYS) {
          await expectAssuredError(
            () => store.renew(bad(key), token, 1_000),
            "INVALID_ARGUMENT",
            `renew, key ${JSON.stringify(key) ?? String(key)}`,
          );
        }
        for (const t of BAD_TOKENS) {
          await expectAssuredError(
            () => store.renew("k", bad(t), 1_000),
            "INVALID_ARGUMENT",
            `renew, token ${JSON.stringify(t) ?? String(t)}`,
          );
        }
        for (const leaseMs of BAD_LEASES) {
          await expectAssuredError(
            () => store.renew("k", token, bad(leaseMs)),
            "INVALID_ARGUMENT",
            `renew, leaseMs ${String(leaseMs)}`,
          );
        }
        expect(await store.claim("k", lease)).toEqual({
          status: "pending",
          leaseExpiresAt: stores.clock() + lease.leaseMs,
        });
        expect(await store.renew("k", token, 1_000)).toBe(true);
      },
      timeout,
    );

    it(
      "rejects renew with STORE_CLOSED after close",
      async () => {
        const store = await stores.create();
        const { token } = expectFenced(await store.claim("k", lease), "claim");
        await store.close();
        await expectAssuredError(() => store.renew("k", token, 1_000), "STORE_CLOSED", "renew");
      },
      timeout,
    );
  });
}
