import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryDedupStore } from "../src/index.js";
import type { ClaimResult } from "../src/store-entry.js";

/**
 * Model-based property test of renewed, fenced leases in `MemoryDedupStore` (DESIGN.md §8):
 * random claims, renewals, completes, releases and clock steps on a few keys are run against
 * the store and against a model that keeps, per key, its state, holder token, expiry and last
 * fencing token. Every answer must be the model's: a renewal succeeds exactly while its token
 * holds an unexpired lease and moves the lease end; every claim's fencing token is the key's
 * previous one + 1 or the clock, whichever is larger (the clock, at least 1, for a fresh key),
 * across takeovers, releases and expired responses.
 */

const KEYS = ["a", "b", "c"] as const;
const FINGERPRINTS = ["f1", "f2"] as const;

type Command =
  | { kind: "claim"; key: number; fingerprint: number; leaseMs: number }
  | { kind: "renew"; token: number; leaseMs: number }
  | { kind: "complete"; token: number; ttlMs: number }
  | { kind: "release"; token: number }
  | { kind: "advance"; ms: number };

interface ModelEntry {
  state: "leased" | "done";
  fingerprint: string;
  /** The holder's token; undefined once completed or released. */
  token: string | undefined;
  expiresAt: number;
  fence: number;
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("claim" as const),
      key: fc.integer({ min: 0, max: KEYS.length - 1 }),
      fingerprint: fc.integer({ min: 0, max: FINGERPRINTS.length - 1 }),
      leaseMs: fc.integer({ min: 1, max: 30 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("renew" as const),
      token: fc.nat(),
      leaseMs: fc.integer({ min: 1, max: 30 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("complete" as const),
      token: fc.nat(),
      ttlMs: fc.integer({ min: 1, max: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), token: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.integer({ min: 0, max: 20 }),
    }),
  },
);

function expectedClaim(entry: ModelEntry | undefined, fingerprint: string, now: number) {
  if (entry === undefined || entry.expiresAt <= now) return { status: "claimed" };
  if (entry.fingerprint !== fingerprint) return { status: "conflict" };
  return entry.state === "leased"
    ? { status: "pending", leaseExpiresAt: entry.expiresAt }
    : { status: "done" };
}

describe("MemoryDedupStore renew and fencing, model-based (fast-check)", () => {
  it("renews only the current, unexpired holder, and gives each claim the key's previous fencing token + 1 or the clock", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 80 }), async (commands) => {
        let now = 0;
        const store = new MemoryDedupStore({ clock: () => now, maxEntries: 1_000 });
        // The oldest keys never expire: the store's sweep of its few oldest keys then never
        // drops the keys under test, whose fencing tokens must therefore continue.
        for (let i = 0; i < 8; i++) {
          await store.claim(`filler:${i}`, { leaseMs: 1_000_000_000, fingerprint: "f" });
        }
        const model = new Map<string, ModelEntry>();
        const tokens: { key: string; token: string }[] = [];
        for (const step of commands) {
          if (step.kind === "advance") {
            now += step.ms;
            continue;
          }
          if (step.kind === "claim") {
            const key = KEYS[step.key]!;
            const fingerprint = FINGERPRINTS[step.fingerprint]!;
            const entry = model.get(key);
            const result: ClaimResult = await store.claim(key, {
              leaseMs: step.leaseMs,
              fingerprint,
            });
            expect(result).toMatchObject(expectedClaim(entry, fingerprint, now));
            if (result.status !== "claimed") continue;
            // The key's previous token + 1, or the clock when larger (1 at least, fresh key).
            expect(result.fencingToken).toBe(Math.max((entry?.fence ?? 0) + 1, now, 1));
            tokens.push({ key, token: result.token });
            model.set(key, {
              state: "leased",
              fingerprint,
              token: result.token,
              expiresAt: now + step.leaseMs,
              fence: result.fencingToken,
            });
            continue;
          }
          if (tokens.length === 0) continue;
          const { key, token } = tokens[step.token % tokens.length]!;
          const entry = model.get(key);
          const holds = entry?.state === "leased" && entry.token === token;
          if (step.kind === "renew") {
            const live = holds && entry.expiresAt > now;
            expect(await store.renew(key, token, step.leaseMs)).toBe(live);
            if (live) entry.expiresAt = now + step.leaseMs;
          } else if (step.kind === "complete") {
            const response = { ok: true, payload: new Uint8Array([1]) };
            expect(await store.complete(key, token, response, { ttlMs: step.ttlMs })).toBe(holds);
            if (holds) {
              model.set(key, {
                ...entry,
                state: "done",
                token: undefined,
                expiresAt: now + step.ttlMs,
              });
            }
          } else {
            expect(await store.release(key, token)).toBe(holds);
            if (holds) model.set(key, { ...entry, token: undefined, expiresAt: now });
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
