import { describe, expect, it } from "vitest";
import { expectClaimed, expectSameBytes } from "../assertions.js";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";
import { HOSTILE_STREAM_NAMES } from "./hostile-names.js";

const lease = { leaseMs: 30_000, fingerprint: "fp-1" };
const other = { leaseMs: 30_000, fingerprint: "fp-2" };
const ttl = { ttlMs: 60_000 };
const response = { ok: true, payload: new Uint8Array([0, 1, 0xfe, 0xff, 0]) };

/** Dedup basics: claim, pending, done with the stored response, conflict, release, tokens. */
export function describeDedupBasics(harness: DedupStoreHarness, options: SuiteOptions = {}): void {
  const timeout = caseTimeout(options);
  describe("dedup basics (G9)", () => {
    const stores = useDedupStores(harness);

    it(
      "claims a free key with a token",
      async () => {
        const store = await stores.create();
        expectClaimed(await store.claim("k", lease), "first claim");
      },
      timeout,
    );

    it(
      "answers pending, with when the lease ends, to the same fingerprint while leased",
      async () => {
        const store = await stores.create();
        const start = stores.clock();
        expectClaimed(await store.claim("k", lease), "first claim");
        stores.clock.advance(1_000);
        const second = await store.claim("k", lease);
        expect(second.status).toBe("pending");
        const ends = second.status === "pending" ? second.leaseExpiresAt : Number.NaN;
        expect(
          ends > stores.clock() && ends <= start + lease.leaseMs,
          `leaseExpiresAt ${ends}`,
        ).toBe(true);
      },
      timeout,
    );

    it(
      "answers conflict to another fingerprint while leased",
      async () => {
        const store = await stores.create();
        expectClaimed(await store.claim("k", lease), "first claim");
        expect(await store.claim("k", other)).toEqual({ status: "conflict" });
      },
      timeout,
    );

    it(
      "stores the response on complete: later claims get done with the exact bytes",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        expect(await store.complete("k", token, response, ttl)).toBe(true);
        for (let i = 0; i < 2; i++) {
          const done = await store.claim("k", lease);
          expect(done.status).toBe("done");
          if (done.status !== "done") return;
          expect(done.response.ok).toBe(true);
          expectSameBytes(done.response.payload, response.payload, "stored response");
        }
      },
      timeout,
    );

    it(
      "stores an application error (ok: false) and an empty payload as they were",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        await store.complete("k", token, { ok: false, payload: new Uint8Array() }, ttl);
        const done = await store.claim("k", lease);
        expect(done.status).toBe("done");
        if (done.status !== "done") return;
        expect(done.response.ok).toBe(false);
        expectSameBytes(done.response.payload, new Uint8Array(), "empty error payload");
      },
      timeout,
    );

    it(
      "answers conflict to another fingerprint after complete",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        await store.complete("k", token, response, ttl);
        expect(await store.claim("k", other)).toEqual({ status: "conflict" });
      },
      timeout,
    );

    it(
      "frees the key on release: the next claim wins with a new token",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        expect(await store.release("k", token)).toBe(true);
        const again = expectClaimed(await store.claim("k", other), "claim after release");
        expect(again).not.toBe(token);
      },
      timeout,
    );

    it(
      "refuses complete and release with a wrong token; the holder keeps the key",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        expect(await store.complete("k", `${token}x`, response, ttl)).toBe(false);
        expect(await store.release("k", `${token}x`)).toBe(false);
        expect(await store.complete("unknown", token, response, ttl)).toBe(false);
        expect((await store.claim("k", lease)).status).toBe("pending");
        expect(await store.complete("k", token, response, ttl)).toBe(true);
      },
      timeout,
    );

    it(
      "refuses complete after release with the released token",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        await store.release("k", token);
        expect(await store.complete("k", token, response, ttl)).toBe(false);
        expectClaimed(await store.claim("k", lease), "claim after release");
      },
      timeout,
    );

    it(
      "is not altered when the caller changes the response it completed or got back",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        const given = { ok: true, payload: new Uint8Array([1, 2, 3]) };
        await store.complete("k", token, given, ttl);
        given.payload.fill(0);
        given.ok = false;
        const first = await store.claim("k", lease);
        expect(first.status).toBe("done");
        if (first.status !== "done") return;
        expect(first.response.ok, "ok after the caller changed its response (copy it in)").toBe(
          true,
        );
        expectSameBytes(
          first.response.payload,
          new Uint8Array([1, 2, 3]),
          "after the caller changed its response (copy it in)",
        );
        first.response.payload.fill(9);
        const second = await store.claim("k", lease);
        expect(second.status).toBe("done");
        if (second.status !== "done") return;
        expectSameBytes(
          second.response.payload,
          new Uint8Array([1, 2, 3]),
          "after a reader changed the response it got (copy it out)",
        );
      },
      timeout,
    );

    it(
      "refuses release with the token of a completed claim: the response stays",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "first claim");
        expect(await store.complete("k", token, response, ttl)).toBe(true);
        expect(
          await store.release("k", token),
          "release after complete (the token no longer holds the key)",
        ).toBe(false);
        const done = await store.claim("k", lease);
        expect(done.status, "the stored response after a late release").toBe("done");
        expect(await store.claim("k", other)).toEqual({ status: "conflict" });
      },
      timeout,
    );

    it(
      "keeps every key apart, hostile keys included",
      async () => {
        const store = await stores.create();
        const keys = [...HOSTILE_STREAM_NAMES, "k", "K", "k "];
        const tokens = new Map<string, string>();
        for (const key of keys)
          tokens.set(key, expectClaimed(await store.claim(key, lease), JSON.stringify(key)));
        for (const [i, key] of keys.entries()) {
          const payload = new Uint8Array([i]);
          expect(await store.complete(key, tokens.get(key)!, { ok: true, payload }, ttl)).toBe(
            true,
          );
        }
        for (const [i, key] of keys.entries()) {
          const done = await store.claim(key, lease);
          expect(done.status, JSON.stringify(key)).toBe("done");
          if (done.status === "done")
            expectSameBytes(done.response.payload, new Uint8Array([i]), key);
        }
      },
      timeout,
    );
  });
}
