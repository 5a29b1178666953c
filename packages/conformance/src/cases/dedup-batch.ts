import {
  type BatchItemResult,
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  type DedupOwner,
  type DedupStore,
  MAX_DEDUP_BATCH,
} from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectAssuredError } from "../assertions.js";
import { type StoreFixture, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout, modelParameters } from "../suite-options.js";

const KEYS = ["k1", "k2", "k3", "k4", "k5", "k6"] as const;
const FINGERPRINTS = ["fp-a", "fp-b"] as const;
const alice: DedupOwner = { id: "alice", maxEntries: 2 };
const bob: DedupOwner = { id: "bob", maxEntries: 1 };
/** Each key's owner, always the same (the contract asks for it): quotas of 2 and 1 are reached. */
const OWNER_OF_KEY: readonly (DedupOwner | undefined)[] = [
  alice,
  alice,
  alice,
  undefined,
  bob,
  bob,
];
const LEASES = [1_000, 3_000] as const;
const TTLS = [2_000, 6_000] as const;

/** One claim of a random batch: which key, fingerprint, owner and lease; or an invalid item. */
interface ClaimItem {
  key: number;
  fingerprint: number;
  lease: number;
  invalid: boolean;
}

/** One complete of a random batch: the nth claim won so far (or a forged token), its response. */
interface CompleteItem {
  claim: number;
  forged: boolean;
  ok: boolean;
  ttl: number;
  invalid: boolean;
}

type Step =
  | { kind: "claims"; items: ClaimItem[] }
  | { kind: "completes"; items: CompleteItem[] }
  | { kind: "release"; claim: number }
  | { kind: "advance"; ms: number };

const claimItem: fc.Arbitrary<ClaimItem> = fc.record({
  key: fc.nat(KEYS.length - 1),
  fingerprint: fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.constant(1) },
  ),
  lease: fc.nat(LEASES.length - 1),
  invalid: fc.oneof(
    { weight: 12, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
});

const completeItem: fc.Arbitrary<CompleteItem> = fc.record({
  claim: fc.nat(20),
  forged: fc.oneof(
    { weight: 8, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  ok: fc.boolean(),
  ttl: fc.nat(TTLS.length - 1),
  invalid: fc.oneof(
    { weight: 12, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
});

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("claims" as const),
      items: fc.array(claimItem, { minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("completes" as const),
      items: fc.array(completeItem, { minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), claim: fc.nat(20) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.constantFrom(500, 1_000, 1_001, 2_500, 6_000),
    }),
  },
);

/** What an answer must agree on between the batch and the single calls (tokens differ). */
function comparable(result: BatchItemResult<ClaimResult | boolean>): unknown {
  if (result.status === "rejected") {
    return { rejected: (result.reason as { code?: unknown }).code ?? String(result.reason) };
  }
  const value = result.value;
  if (typeof value === "boolean") return value;
  switch (value.status) {
    case "claimed":
      return { status: "claimed" };
    case "done":
      return { status: "done", ok: value.response.ok, payload: [...value.response.payload] };
    default:
      return value;
  }
}

/** The single calls of `requests`, one after the other, in the shape of a batch's results. */
async function oneByOne<R, T>(
  requests: readonly R[],
  call: (request: R) => Promise<T>,
): Promise<BatchItemResult<T>[]> {
  const results: BatchItemResult<T>[] = [];
  for (const request of requests) {
    try {
      results.push({ status: "fulfilled", value: await call(request) });
    } catch (error) {
      results.push({ status: "rejected", reason: error as never });
    }
  }
  return results;
}

/** A store's claims won so far (key, token) and the last fencing token of each key. */
class Ledger {
  readonly won: { key: string; token: string }[] = [];
  readonly fences = new Map<string, number>();

  record(
    requests: readonly ClaimRequest[],
    results: readonly BatchItemResult<ClaimResult>[],
    what: string,
  ) {
    results.forEach((result, i) => {
      if (result.status !== "fulfilled" || result.value.status !== "claimed") return;
      const { key } = requests[i]!;
      const { token, fencingToken } = result.value;
      expect(Number.isSafeInteger(fencingToken) && fencingToken > 0, `${what}: fencing token`).toBe(
        true,
      );
      const previous = this.fences.get(key) ?? 0;
      expect(fencingToken, `${what}: item ${i}'s fencing token grows per key`).toBeGreaterThan(
        previous,
      );
      this.fences.set(key, fencingToken);
      this.won.push({ key, token });
    });
  }
}

function claimRequests(items: readonly ClaimItem[]): ClaimRequest[] {
  return items.map((item) => {
    const owner = OWNER_OF_KEY[item.key];
    const options = {
      leaseMs: LEASES[item.lease]!,
      fingerprint: FINGERPRINTS[item.fingerprint]!,
      ...(owner === undefined ? {} : { owner }),
    };
    return { key: item.invalid ? "" : KEYS[item.key]!, options };
  });
}

function completeRequests(items: readonly CompleteItem[], ledger: Ledger): CompleteRequest[] {
  return items.map((item, i) => {
    const won = ledger.won.length === 0 ? undefined : ledger.won[item.claim % ledger.won.length];
    return {
      key: won?.key ?? KEYS[item.claim % KEYS.length]!,
      token: item.forged || won === undefined ? `forged-${i}` : won.token,
      response: { ok: item.ok, payload: new Uint8Array([item.claim, i]) },
      options: { ttlMs: item.invalid ? -1 : TTLS[item.ttl]! },
    };
  });
}

/**
 * Batch claims and completes (`claimMany`, `completeMany`; optional, checked when the store has
 * them): each item answers as the single call would, made one after the other in order: the
 * owner's quota counted in order within a batch, a key repeated in a batch seeing the earlier
 * item's claim, pending, done and conflict answers, leases and responses expiring between
 * batches, fencing tokens growing per key; an invalid item is refused alone; `STORE_CLOSED`.
 */
export function describeDedupBatch(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("dedup batches (claimMany, completeMany: as single calls in order)", () => {
    const stores = useDedupStores(harness);

    /** A store with both batch methods, or undefined (the case then checks nothing). */
    async function batchStore(fixture: StoreFixture<DedupStore>): Promise<DedupStore | undefined> {
      const store = await fixture.create();
      if (typeof store.claimMany === "function" && typeof store.completeMany === "function") {
        return store;
      }
      return undefined;
    }

    it(
      "answers random batches mixing new keys, repeats, pending, done, conflict, quota edges and expiry as single calls in order do",
      async () => {
        if ((await batchStore(stores)) === undefined) return;
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
            // Two stores on fresh data and the case's clock: one gets batches, one single calls.
            const batch = (await stores.create()) as Required<DedupStore>;
            const single = await stores.create();
            const ledgers = { batch: new Ledger(), single: new Ledger() };
            try {
              for (const [n, current] of steps.entries()) {
                const what = `step ${n} (${current.kind})`;
                if (current.kind === "advance") {
                  stores.clock.advance(current.ms);
                } else if (current.kind === "claims") {
                  const requests = claimRequests(current.items);
                  const got = await batch.claimMany(requests);
                  const want = await oneByOne(requests, (r) => single.claim(r.key, r.options));
                  expect(got.length, `${what}: one result per request`).toBe(requests.length);
                  expect(got.map(comparable), `${what}: batch vs single claims`).toEqual(
                    want.map(comparable),
                  );
                  ledgers.batch.record(requests, got, `${what}, batch`);
                  ledgers.single.record(requests, want, `${what}, single`);
                } else if (current.kind === "completes") {
                  const got = await batch.completeMany(
                    completeRequests(current.items, ledgers.batch),
                  );
                  const requests = completeRequests(current.items, ledgers.single);
                  const want = await oneByOne(requests, (r) =>
                    single.complete(r.key, r.token, r.response, r.options),
                  );
                  expect(got.map(comparable), `${what}: batch vs single completes`).toEqual(
                    want.map(comparable),
                  );
                } else {
                  const release = async (store: DedupStore, ledger: Ledger) => {
                    const won = ledger.won[current.claim % Math.max(1, ledger.won.length)];
                    return won === undefined ? false : store.release(won.key, won.token);
                  };
                  expect(await release(batch, ledgers.batch), `${what}: release`).toBe(
                    await release(single, ledgers.single),
                  );
                }
              }
            } finally {
              await batch.close();
              await single.close();
            }
          }),
          { ...modelParameters(options), includeErrorInReport: true },
        );
      },
      timeout,
    );

    it(
      "refuses an invalid item alone (INVALID_ARGUMENT) and the whole call only for a bad batch",
      async () => {
        const store = await batchStore(stores);
        if (store === undefined) return;
        const lease = { leaseMs: 30_000, fingerprint: "fp" };
        const claims = await store.claimMany!([
          { key: "good-1", options: lease },
          { key: "", options: lease },
          { key: "good-2", options: { ...lease, leaseMs: 0 } },
          null as never,
          { key: "good-3", options: { ...lease, extra: 1 } as never },
          { key: "good-4", options: lease },
        ]);
        expect(claims.map((r) => r.status)).toEqual([
          "fulfilled",
          "rejected",
          "rejected",
          "rejected",
          "rejected",
          "fulfilled",
        ]);
        for (const r of claims) {
          if (r.status === "rejected")
            expect((r.reason as { code?: unknown }).code).toBe("INVALID_ARGUMENT");
          else expect(r.value.status).toBe("claimed");
        }
        const token = (claims[0] as { value: { token: string } }).value.token;
        const response = { ok: true, payload: new Uint8Array([1, 2]) };
        const completes = await store.completeMany!([
          { key: "good-1", token, response, options: { ttlMs: 60_000 } },
          { key: "good-4", token: "", response, options: { ttlMs: 60_000 } },
          { key: "good-4", token: "forged", response, options: { ttlMs: 60_000 } },
          { key: "good-4", token, response: { ok: "yes" } as never, options: { ttlMs: 60_000 } },
        ]);
        expect(
          completes.map((r) =>
            r.status === "fulfilled" ? r.value : (r.reason as { code?: unknown }).code,
          ),
        ).toEqual([true, "INVALID_ARGUMENT", false, "INVALID_ARGUMENT"]);
        expect(await store.claim("good-1", lease)).toMatchObject({ status: "done" });
        expect(await store.claimMany!([])).toEqual([]);
        expect(await store.completeMany!([])).toEqual([]);
        await expectAssuredError(
          () => store.claimMany!("k1" as never),
          "INVALID_ARGUMENT",
          "claimMany of a string",
        );
        const tooMany = Array.from({ length: MAX_DEDUP_BATCH + 1 }, (_, i) => ({
          key: `many-${i}`,
          options: lease,
        }));
        await expectAssuredError(
          () => store.claimMany!(tooMany),
          "INVALID_ARGUMENT",
          "claimMany beyond MAX_DEDUP_BATCH",
        );
        await expectAssuredError(
          () => store.completeMany!({} as never),
          "INVALID_ARGUMENT",
          "completeMany of an object",
        );
        expect(
          await store.claim("many-0", lease),
          "nothing of a refused batch was claimed",
        ).toMatchObject({ status: "claimed" });
      },
      timeout,
    );

    it(
      "answers STORE_CLOSED from claimMany and completeMany after close, empty batches included",
      async () => {
        const store = await batchStore(stores);
        if (store === undefined) return;
        const lease = { leaseMs: 30_000, fingerprint: "fp" };
        const [claimed] = await store.claimMany!([{ key: "held", options: lease }]);
        const token =
          claimed?.status === "fulfilled" && claimed.value.status === "claimed"
            ? claimed.value.token
            : "t";
        await store.close();
        const response = { ok: true, payload: new Uint8Array([1]) };
        await expectAssuredError(
          () => store.claimMany!([{ key: "held", options: lease }]),
          "STORE_CLOSED",
          "claimMany after close",
        );
        await expectAssuredError(
          () => store.claimMany!([]),
          "STORE_CLOSED",
          "empty claimMany after close",
        );
        await expectAssuredError(
          () => store.completeMany!([{ key: "held", token, response, options: { ttlMs: 1_000 } }]),
          "STORE_CLOSED",
          "completeMany after close",
        );
        await expectAssuredError(
          () => store.completeMany!([]),
          "STORE_CLOSED",
          "empty completeMany after close",
        );
      },
      timeout,
    );
  });
}
