import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssuredError, createMemoryBackend, MemoryDedupStore } from "../src/index.js";
import type { ClaimResult, DedupOwner } from "../src/store-entry.js";

/**
 * Model-based property test of the per-owner quota of `MemoryDedupStore`: random claims,
 * completes, releases and clock steps for several owners (and unowned keys) are run against the
 * store and against a model that keeps, per key, its owner, state, token and expiry. Every claim
 * answer must be the model's, and after every step no owner holds more unexpired entries than
 * its quota, and exactly as many as the model says.
 */

const OWNERS = ["alice", "bob", "carol"] as const;
const FINGERPRINTS = ["f1", "f2"] as const;

type Command =
  | { kind: "claim"; owner: number; key: number; fingerprint: number; leaseMs: number }
  | { kind: "complete"; token: number; ttlMs: number }
  | { kind: "release"; token: number }
  | { kind: "advance"; ms: number };

interface ModelEntry {
  owner: string | undefined;
  state: "leased" | "done";
  fingerprint: string;
  token: string | undefined;
  expiresAt: number;
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("claim" as const),
      // OWNERS.length stands for "no owner".
      owner: fc.integer({ min: 0, max: OWNERS.length }),
      key: fc.integer({ min: 0, max: 3 }),
      fingerprint: fc.integer({ min: 0, max: FINGERPRINTS.length - 1 }),
      leaseMs: fc.integer({ min: 1, max: 30 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("complete" as const),
      token: fc.nat(),
      ttlMs: fc.integer({ min: 1, max: 60 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), token: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.integer({ min: 0, max: 25 }),
    }),
  },
);

async function outcome(claim: Promise<ClaimResult>): Promise<ClaimResult | { status: "quota" }> {
  try {
    return await claim;
  } catch (error) {
    if (error instanceof AssuredError && error.code === "QUOTA_EXCEEDED")
      return { status: "quota" };
    throw error;
  }
}

describe("MemoryDedupStore quota, model-based (fast-check)", () => {
  it("never lets an owner hold more than its quota of unexpired entries, and never affects other owners", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
        ),
        fc.array(command, { minLength: 1, maxLength: 80 }),
        async (quotas, commands) => {
          let now = 0;
          const backend = createMemoryBackend();
          const store = new MemoryDedupStore({ clock: () => now, backend, maxEntries: 1_000 });
          const owners: DedupOwner[] = OWNERS.map((id, i) => ({ id, maxEntries: quotas[i]! }));
          // The oldest keys never expire: the store's global sweep of its few oldest keys then
          // finds nothing, so only the per-owner bookkeeping can free an owner's places.
          for (let i = 0; i < 8; i++) {
            await store.claim(`filler:${i}`, { leaseMs: 1_000_000_000, fingerprint: "f" });
          }
          const model = new Map<string, ModelEntry>();
          const tokens: { key: string; token: string }[] = [];
          const live = (entry: ModelEntry | undefined): entry is ModelEntry =>
            entry !== undefined && entry.expiresAt > now;
          const liveOf = (owner: string) =>
            [...model.values()].filter((e) => live(e) && e.owner === owner).length;

          for (const step of commands) {
            switch (step.kind) {
              case "advance":
                now += step.ms;
                break;
              case "claim": {
                const owner = owners[step.owner];
                const key = `${owner?.id ?? "none"}:${step.key}`;
                const fingerprint = FINGERPRINTS[step.fingerprint]!;
                const entry = model.get(key);
                const result = await outcome(
                  store.claim(key, {
                    leaseMs: step.leaseMs,
                    fingerprint,
                    ...(owner === undefined ? {} : { owner }),
                  }),
                );
                if (live(entry)) {
                  const expected =
                    entry.fingerprint !== fingerprint
                      ? "conflict"
                      : entry.state === "leased"
                        ? "pending"
                        : "done";
                  expect(result.status).toBe(expected);
                } else if (owner !== undefined && liveOf(owner.id) >= owner.maxEntries) {
                  expect(result.status).toBe("quota");
                } else {
                  expect(result.status).toBe("claimed");
                  const token = (result as { token: string }).token;
                  tokens.push({ key, token });
                  model.set(key, {
                    owner: owner?.id,
                    state: "leased",
                    fingerprint,
                    token,
                    expiresAt: now + step.leaseMs,
                  });
                }
                break;
              }
              case "complete":
              case "release": {
                if (tokens.length === 0) break;
                const { key, token } = tokens[step.token % tokens.length]!;
                const entry = model.get(key);
                const holds = entry?.state === "leased" && entry.token === token;
                const done =
                  step.kind === "complete"
                    ? await store.complete(
                        key,
                        token,
                        { ok: true, payload: new Uint8Array([1]) },
                        { ttlMs: step.ttlMs },
                      )
                    : await store.release(key, token);
                // A holder whose lease ran out may still finish unless a sweep dropped the key.
                if (live(entry) || !holds) expect(done).toBe(holds);
                if (!done) {
                  if (holds) model.delete(key);
                } else if (step.kind === "release") {
                  model.delete(key);
                } else if (entry !== undefined) {
                  model.set(key, {
                    ...entry,
                    state: "done",
                    token: undefined,
                    expiresAt: now + step.ttlMs,
                  });
                }
                break;
              }
            }
            for (const owner of owners) {
              const held = [...backend.claims.values()].filter(
                (claim) =>
                  claim.owner === owner.id &&
                  (claim.state === "leased" ? claim.leaseExpiresAt : claim.expiresAt) > now,
              ).length;
              expect(held).toBeLessThanOrEqual(owner.maxEntries);
              expect(held).toBe(liveOf(owner.id));
              expect(backend.owners.get(owner.id)?.count ?? 0).toBeGreaterThanOrEqual(held);
            }
          }
        },
      ),
      {
        numRuns: 300,
        // Rare by chance, so given: a key completed with a TTL longer, then shorter, than its
        // lease, and the owner at its quota in between.
        examples: [
          [
            [1, 1, 1],
            [
              { kind: "claim", owner: 0, key: 0, fingerprint: 0, leaseMs: 1 },
              { kind: "complete", token: 0, ttlMs: 20 },
              { kind: "advance", ms: 5 },
              { kind: "claim", owner: 0, key: 1, fingerprint: 0, leaseMs: 1 },
              { kind: "advance", ms: 20 },
              { kind: "claim", owner: 0, key: 1, fingerprint: 0, leaseMs: 30 },
              { kind: "complete", token: 1, ttlMs: 1 },
              { kind: "advance", ms: 1 },
              { kind: "claim", owner: 0, key: 2, fingerprint: 0, leaseMs: 1 },
            ],
          ],
        ],
      },
    );
  });
});
