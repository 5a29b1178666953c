import type { ClaimResult, DedupStore } from "@assured/core/store";
import { describe, expect, it } from "vitest";
import { expectClaimed, expectSameBytes } from "../assertions.js";
import { requireShared, useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout, instanceCount } from "../suite-options.js";

const CLAIMERS = 50;
const lease = { leaseMs: 30_000, fingerprint: "fp" };

function expectOneWinner(results: ClaimResult[]): void {
  const statuses = results.map((r) => r.status);
  expect(
    statuses.filter((s) => s === "claimed"),
    "claims that won",
  ).toHaveLength(1);
  expect(statuses.filter((s) => s === "pending")).toHaveLength(results.length - 1);
}

/** Dedup concurrency: exactly one of many concurrent claims wins, also across instances. */
export function describeDedupConcurrency(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  const spread = instanceCount(options, CLAIMERS);
  describe("dedup concurrency (G9: exactly one winner)", () => {
    const stores = useDedupStores(harness);

    it(
      `lets exactly one of ${CLAIMERS} concurrent claims on one instance win`,
      async () => {
        const store = await stores.create();
        expectOneWinner(
          await Promise.all(Array.from({ length: CLAIMERS }, () => store.claim("k", lease))),
        );
      },
      timeout,
    );

    it(
      `lets exactly one of ${CLAIMERS} concurrent claims on ${spread} instances win`,
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const instances: DedupStore[] = [first];
        while (instances.length < spread) instances.push(await stores.reopen(first));
        const results = await Promise.all(
          Array.from({ length: CLAIMERS }, (_, n) => instances[n % spread]!.claim("k", lease)),
        );
        expectOneWinner(results);
      },
      timeout,
    );

    it(
      `lets ${CLAIMERS} concurrent claims of different keys all win`,
      async () => {
        const store = await stores.create();
        const results = await Promise.all(
          Array.from({ length: CLAIMERS }, (_, n) => store.claim(`k${n}`, lease)),
        );
        for (const [n, result] of results.entries()) expectClaimed(result, `key k${n}`);
      },
      timeout,
    );

    it(
      "shows a completion on one instance to a claim on another at once",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const second = await stores.reopen(first);
        const token = expectClaimed(await first.claim("k", lease), "claim");
        expect((await second.claim("k", lease)).status).toBe("pending");
        await first.complete(
          "k",
          token,
          { ok: true, payload: new Uint8Array([1]) },
          { ttlMs: 60_000 },
        );
        expect((await second.claim("k", lease)).status).toBe("done");
      },
      timeout,
    );

    it(
      "answers conflict on another instance to another fingerprint, while leased and once done",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const second = await stores.reopen(first);
        const token = expectClaimed(await first.claim("k", lease), "claim");
        const other = { ...lease, fingerprint: "another" };
        expect(
          await second.claim("k", other),
          "another fingerprint on another instance, while leased (keep the fingerprint with the claim in the shared data)",
        ).toEqual({ status: "conflict" });
        await first.complete(
          "k",
          token,
          { ok: true, payload: new Uint8Array([1]) },
          { ttlMs: 60_000 },
        );
        expect(await second.claim("k", other), "another fingerprint, once done").toEqual({
          status: "conflict",
        });
      },
      timeout,
    );

    it(
      "shows an application error (ok: false) with its exact bytes to another instance",
      async (context) => {
        const first = await stores.create();
        requireShared(context, stores, first, options);
        const second = await stores.reopen(first);
        const token = expectClaimed(await first.claim("k", lease), "claim");
        const payload = new Uint8Array([0, 0xff, 9]);
        await first.complete("k", token, { ok: false, payload }, { ttlMs: 60_000 });
        const done = await second.claim("k", lease);
        expect(done.status).toBe("done");
        if (done.status !== "done") return;
        expect(
          done.response.ok,
          "response.ok on another instance (keep the ok flag with the response in the shared data)",
        ).toBe(false);
        expectSameBytes(done.response.payload, payload, "response on another instance");
      },
      timeout,
    );
  });
}
