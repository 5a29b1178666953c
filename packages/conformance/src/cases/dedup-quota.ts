import type { ClaimOptions, ClaimResult, DedupOwner, DedupStore } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectAssuredError, expectClaimed } from "../assertions.js";
import { requirePersistent, requireShared, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout, instanceCount } from "../suite-options.js";

const QUOTA = 3;
const alice: DedupOwner = { id: "alice", maxEntries: QUOTA };
const bob: DedupOwner = { id: "bob", maxEntries: QUOTA };
const lease = { leaseMs: 30_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([9]) };
const ttl = { ttlMs: 60_000 };
const CLAIMERS = 20;
const CONCURRENT_QUOTA = 5;

const as = (owner: DedupOwner, more: Partial<ClaimOptions> = {}): ClaimOptions => ({
  ...lease,
  ...more,
  owner,
});

/** Claims `count` new keys `<prefix>0…` for `owner`, each expected to win; returns the tokens. */
async function fill(store: DedupStore, owner: DedupOwner, prefix: string, count: number) {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(expectClaimed(await store.claim(`${prefix}${i}`, as(owner)), `${prefix}${i}`));
  }
  return tokens;
}

/** Expects a claim of a new key to be refused by the owner's quota. */
function expectQuota(store: DedupStore, key: string, owner: DedupOwner, what: string) {
  return expectAssuredError(() => store.claim(key, as(owner)), "QUOTA_EXCEEDED", what);
}

/**
 * After concurrent claims settled: the owner can add exactly `maxEntries - winners` more, one
 * at a time, so the store holds exactly `winners` of its entries (never more than the quota).
 */
async function expectHeld(store: DedupStore, owner: DedupOwner, winners: number): Promise<void> {
  let added = 0;
  for (let i = 0; i <= owner.maxEntries; i++) {
    try {
      expectClaimed(await store.claim(`after-${i}`, as(owner)), `sequential claim ${i}`);
      added++;
    } catch (error) {
      if ((error as { code?: unknown }).code !== "QUOTA_EXCEEDED") throw error;
      break;
    }
  }
  expect(winners + added, "entries the owner holds after the concurrent claims").toBe(
    owner.maxEntries,
  );
}

async function settle(claims: Promise<ClaimResult>[]) {
  const results = await Promise.allSettled(claims);
  for (const result of results) {
    if (result.status === "rejected") {
      expect((result.reason as { code?: unknown }).code, String(result.reason)).toBe(
        "QUOTA_EXCEEDED",
      );
    } else {
      expect(result.value.status).toBe("claimed");
    }
  }
  return results.filter((r) => r.status === "fulfilled").length;
}

/**
 * Dedup quotas (DESIGN.md §8, budgets per principal): a claim with `owner` that would create a
 * new unexpired entry is refused with `QUOTA_EXCEEDED` once the owner holds `maxEntries`;
 * answers that create nothing are given; expiry, release and the TTL free places; other owners
 * never notice; concurrent claims never leave an owner above its quota.
 */
export function describeDedupQuota(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  const spread = instanceCount(options, CLAIMERS);
  describe("dedup quota per owner (DESIGN.md §8)", () => {
    const stores = useDedupStores(harness);

    it(
      "refuses a new key of an owner at its quota with QUOTA_EXCEEDED; its keys still answer",
      async () => {
        const store = await stores.create();
        const [first] = await fill(store, alice, "a", QUOTA);
        await expectQuota(store, "a-new", alice, "claim beyond the quota");
        expect((await store.claim("a0", as(alice))).status, "held key").toBe("pending");
        expect((await store.claim("a0", as(alice, { fingerprint: "other" }))).status).toBe(
          "conflict",
        );
        expect(await store.complete("a0", first!, response, ttl)).toBe(true);
        const done = await store.claim("a0", as(alice));
        expect(done.status, "a done key claimed again at the quota").toBe("done");
        await expectQuota(store, "a-new", alice, "a completed entry still counts");
      },
      timeout,
    );

    it(
      "leaves other owners and claims without owner unaffected",
      async () => {
        const store = await stores.create();
        await fill(store, alice, "a", QUOTA);
        await expectQuota(store, "a-new", alice, "alice at her quota");
        await fill(store, bob, "b", QUOTA);
        expectClaimed(await store.claim("unowned", lease), "claim without owner");
        await expectQuota(store, "b-new", bob, "bob at his quota");
        // A larger quota for the same owner lets one more in: the bound is the claim's.
        expectClaimed(
          await store.claim("a-new", as({ id: "alice", maxEntries: QUOTA + 1 })),
          "claim with a larger quota",
        );
      },
      timeout,
    );

    it(
      "frees a place on release, at once",
      async () => {
        const store = await stores.create();
        const tokens = await fill(store, alice, "a", QUOTA);
        expect(await store.release("a1", tokens[1]!)).toBe(true);
        expectClaimed(await store.claim("a-new", as(alice)), "claim after a release");
        await expectQuota(store, "a-newer", alice, "full again");
      },
      timeout,
    );

    it(
      "frees a place when a lease runs out and when a response's TTL passes",
      async () => {
        const store = await stores.create();
        expectClaimed(await store.claim("a0", as(alice, { leaseMs: 1_000 })), "a0");
        expectClaimed(await store.claim("a1", as(alice, { leaseMs: 60_000 })), "a1");
        const done = expectClaimed(await store.claim("a2", as(alice, { leaseMs: 60_000 })), "a2");
        await store.complete("a2", done, response, { ttlMs: 5_000 });
        await expectQuota(store, "a-new", alice, "full");
        stores.clock.advance(999);
        await expectQuota(store, "a-new", alice, "a0's lease still runs");
        stores.clock.advance(1);
        expectClaimed(await store.claim("a-new", as(alice)), "claim after a0's lease ran out");
        await expectQuota(store, "a-newer", alice, "full again");
        stores.clock.advance(4_000);
        expectClaimed(await store.claim("a-newer", as(alice)), "claim after a2's TTL passed");
      },
      timeout,
    );

    it(
      "counts an expired key claimed again as a new entry of its owner",
      async () => {
        const store = await stores.create();
        expectClaimed(await store.claim("a0", as(alice, { leaseMs: 1_000 })), "a0");
        stores.clock.advance(1_000);
        const tokens = await fill(store, alice, "b", QUOTA);
        await expectQuota(store, "a0", alice, "taking over the expired a0 at the quota");
        expect(await store.release("b1", tokens[1]!)).toBe(true);
        expectClaimed(await store.claim("a0", as(alice)), "taking it over with room");
      },
      timeout,
    );

    it(
      "keeps the owner's entries across a restart",
      async (context) => {
        const store = await stores.create();
        requirePersistent(context, stores, store);
        const tokens = await fill(store, alice, "a", QUOTA);
        await store.close();
        const restarted = await stores.reopen(store);
        await expectQuota(restarted, "a-new", alice, "after the restart");
        expect(await restarted.release("a0", tokens[0]!)).toBe(true);
        expectClaimed(await restarted.claim("a-new", as(alice)), "after a release");
      },
      timeout,
    );

    it(
      "rejects invalid owners with INVALID_ARGUMENT and leaves the key free",
      async () => {
        const store = await stores.create();
        const badOwners: unknown[] = [
          null,
          "alice",
          [],
          {},
          { id: "alice" },
          { maxEntries: 3 },
          { id: "", maxEntries: 3 },
          { id: 7, maxEntries: 3 },
          { id: "x".repeat(257), maxEntries: 3 },
          { id: "a\uD800", maxEntries: 3 },
          { id: "alice", maxEntries: 0 },
          { id: "alice", maxEntries: -1 },
          { id: "alice", maxEntries: 2.5 },
          { id: "alice", maxEntries: "3" },
          { id: "alice", maxEntries: Number.NaN },
          { id: "alice", maxEntries: 3, extra: true },
        ];
        for (const owner of badOwners) {
          await expectAssuredError(
            () => store.claim("k", { ...lease, owner } as never),
            "INVALID_ARGUMENT",
            `owner ${JSON.stringify(owner)}`,
          );
        }
        await expectAssuredError(
          () => store.claim("k", { ...lease, ownerId: "alice" } as never),
          "INVALID_ARGUMENT",
          "an unknown claim option",
        );
        expectClaimed(await store.claim("k", as(alice)), "claim after the bad ones");
      },
      timeout,
    );

    it(
      `never leaves an owner above its quota under ${CLAIMERS} concurrent claims on one instance`,
      async () => {
        const store = await stores.create();
        const owner = { id: "alice", maxEntries: CONCURRENT_QUOTA };
        const winners = await settle(
          Array.from({ length: CLAIMERS }, (_, i) => store.claim(`k${i}`, as(owner))),
        );
        expectWinners(store, winners);
        await expectHeld(store, owner, winners);
      },
      timeout,
    );

    it(
      `never leaves an owner above its quota under ${CLAIMERS} concurrent claims on ${spread} instances`,
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const instances: DedupStore[] = [first];
        while (instances.length < spread) instances.push(await stores.reopen(first));
        const owner = { id: "alice", maxEntries: CONCURRENT_QUOTA };
        const winners = await settle(
          Array.from({ length: CLAIMERS }, (_, i) =>
            instances[i % spread]!.claim(`k${i}`, as(owner)),
          ),
        );
        expectWinners(first, winners);
        await expectHeld(first, owner, winners);
      },
      timeout,
    );
  });
}

/**
 * An `"exact"` store (the default) lets exactly as many concurrent claims win as there is room
 * for; an `"optimistic"` one may refuse some that would have fit, never more than the quota.
 */
function expectWinners(store: DedupStore, winners: number): void {
  const mode = store.capabilities.quotaUnderContention ?? "exact";
  if (mode === "exact") expect(winners, "concurrent claims that won").toBe(CONCURRENT_QUOTA);
  else expect(winners, "concurrent claims that won").toBeLessThanOrEqual(CONCURRENT_QUOTA);
}
