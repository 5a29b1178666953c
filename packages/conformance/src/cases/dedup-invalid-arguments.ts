import { describe, expect, it } from "vitest";
import { expectAssuredError, expectClaimed } from "../assertions.js";
import { useDedupStores } from "../fixtures.js";
import type { DedupStoreHarness, SuiteOptions } from "../harness.js";
import { caseTimeout } from "../suite-options.js";

const lease = { leaseMs: 30_000, fingerprint: "fp" };
const response = { ok: true, payload: new Uint8Array([1]) };
const BAD_KEYS: readonly unknown[] = ["", "k".repeat(513), 7, null, undefined, {}, "a\uD800"];

/** Dedup invalid arguments: `INVALID_ARGUMENT`, nothing changed; `STORE_CLOSED` after close. */
export function describeDedupInvalidArguments(
  harness: DedupStoreHarness,
  options: SuiteOptions = {},
): void {
  const timeout = caseTimeout(options);
  const bad = <T>(value: unknown) => value as T;
  describe("dedup invalid arguments (G12)", () => {
    const stores = useDedupStores(harness);

    it(
      "rejects bad keys with INVALID_ARGUMENT on claim, complete and release",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "claim");
        for (const key of BAD_KEYS) {
          const k = bad<string>(key);
          const what = `key ${JSON.stringify(key) ?? String(key)}`;
          await expectAssuredError(
            () => store.claim(k, lease),
            "INVALID_ARGUMENT",
            `claim, ${what}`,
          );
          await expectAssuredError(
            () => store.complete(k, token, response, { ttlMs: 1_000 }),
            "INVALID_ARGUMENT",
            `complete, ${what}`,
          );
          await expectAssuredError(
            () => store.release(k, token),
            "INVALID_ARGUMENT",
            `release, ${what}`,
          );
        }
        expect(await store.release("k", token)).toBe(true);
      },
      timeout,
    );

    it(
      "accepts a 512-code-point key",
      async () => {
        const store = await stores.create();
        expectClaimed(await store.claim("🔑".repeat(512), lease), "512 code points");
      },
      timeout,
    );

    it(
      "rejects bad claim options with INVALID_ARGUMENT and leaves the key free",
      async () => {
        const store = await stores.create();
        const badOptions: unknown[] = [
          null,
          undefined,
          { fingerprint: "fp" },
          { leaseMs: 0, fingerprint: "fp" },
          { leaseMs: -5, fingerprint: "fp" },
          { leaseMs: 1.5, fingerprint: "fp" },
          { leaseMs: "100", fingerprint: "fp" },
          { leaseMs: Number.NaN, fingerprint: "fp" },
          { leaseMs: 100 },
          { leaseMs: 100, fingerprint: "" },
          { leaseMs: 100, fingerprint: 5 },
        ];
        for (const claimOptions of badOptions) {
          await expectAssuredError(
            () => store.claim("k", bad(claimOptions)),
            "INVALID_ARGUMENT",
            `claim options ${JSON.stringify(claimOptions)}`,
          );
        }
        expectClaimed(await store.claim("k", lease), "claim after the bad ones");
      },
      timeout,
    );

    it(
      "rejects a bad response, TTL or token with INVALID_ARGUMENT and keeps the claim",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "claim");
        const badResponses: unknown[] = [
          null,
          {},
          { ok: true },
          { ok: "yes", payload: new Uint8Array() },
          { ok: true, payload: "x" },
          { ok: true, payload: [1] },
        ];
        for (const r of badResponses) {
          await expectAssuredError(
            () => store.complete("k", token, bad(r), { ttlMs: 1_000 }),
            "INVALID_ARGUMENT",
            `response ${JSON.stringify(r)}`,
          );
        }
        for (const ttl of [null, {}, { ttlMs: 0 }, { ttlMs: -1 }, { ttlMs: 2.5 }, { ttlMs: "9" }]) {
          await expectAssuredError(
            () => store.complete("k", token, response, bad(ttl)),
            "INVALID_ARGUMENT",
            `ttl ${JSON.stringify(ttl)}`,
          );
        }
        for (const t of ["", null, 5]) {
          await expectAssuredError(
            () => store.release("k", bad(t)),
            "INVALID_ARGUMENT",
            `token ${JSON.stringify(t)}`,
          );
        }
        expect((await store.claim("k", lease)).status).toBe("pending");
        expect(await store.complete("k", token, response, { ttlMs: 1_000 })).toBe(true);
      },
      timeout,
    );

    it(
      "rejects every method with STORE_CLOSED after close, which may be called twice",
      async () => {
        const store = await stores.create();
        const token = expectClaimed(await store.claim("k", lease), "claim");
        await store.close();
        await store.close();
        await expectAssuredError(() => store.claim("k", lease), "STORE_CLOSED", "claim");
        await expectAssuredError(
          () => store.complete("k", token, response, { ttlMs: 1_000 }),
          "STORE_CLOSED",
          "complete",
        );
        await expectAssuredError(() => store.release("k", token), "STORE_CLOSED", "release");
      },
      timeout,
    );

    it(
      "rejects every method with STORE_CLOSED after close for keys it never saw too",
      async () => {
        const store = await stores.create();
        await store.close();
        await expectAssuredError(() => store.claim("never", lease), "STORE_CLOSED", "claim");
        await expectAssuredError(
          () => store.complete("never", "no-token", response, { ttlMs: 1_000 }),
          "STORE_CLOSED",
          "complete of a key the store never saw (check close before answering false)",
        );
        await expectAssuredError(
          () => store.release("never", "no-token"),
          "STORE_CLOSED",
          "release of a key the store never saw (check close before answering false)",
        );
        await expectAssuredError(
          () => store.renew("never", "no-token", 1_000),
          "STORE_CLOSED",
          "renew of a key the store never saw (check close before answering false)",
        );
      },
      timeout,
    );
  });
}
