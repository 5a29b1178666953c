import fc from "fast-check";
import {
  AdvanceCommand,
  ClaimCommand,
  CompleteCommand,
  type DedupCommand,
  ReleaseCommand,
  RenewCommand,
  RestartCommand,
  type TokenChoice,
} from "./dedup-commands.js";
import type { ModelClaimOptions } from "./dedup-model.js";

/**
 * Keys a model run draws from: plain ones and ones that break stores which build storage keys,
 * patterns or queries from them (separators, pattern and hash-tag characters, NUL, newlines,
 * prototype names, combining marks, emoji, 512 code points).
 */
export const MODEL_DEDUP_KEYS: readonly string[] = [
  "k",
  "user-1:msg-9",
  "a:b",
  "a|b",
  "a.b",
  "{tag}",
  "dedup:{q:x}:k",
  "*",
  "room:?",
  "%_",
  "a\nb",
  "nul\u0000byte",
  "__proto__",
  "'; DROP TABLE assured_dedup; --",
  "$where",
  "../k",
  "é",
  "e\u0301",
  "k ",
  "🎉",
  "x".repeat(512),
  "🎉".repeat(512),
];

/** Fingerprints of claims: two, so claims may conflict. */
const FINGERPRINTS = ["fp-1", "fp-2"] as const;
/** Lease lengths of claims and renewals (ms). */
const LEASES = [1, 1_000, 5_000] as const;
/** TTLs of responses (ms). */
const TTLS = [1, 2_000, 10_000] as const;
/** Clock steps: exactly at, one before and one after the lease and TTL lengths, and any. */
const STEPS = [1, 999, 1_000, 1_001, 1_999, 2_000, 4_999, 5_000, 5_001, 10_000] as const;

/** What stays fixed in one model run: its keys, and each key's owner (or none). */
export interface ModelRunConfig {
  keys: string[];
  /** The owner every claim of `keys[i]` carries (the contract: the same owner every time). */
  owners: (ModelClaimOptions["owner"] | undefined)[];
}

/** What the store lets a run do. */
export interface ModelRunAbilities {
  /** Close or crash and reopen on the same data (a persistent store with `reopen`). */
  restart: boolean;
  /** How many instances commands go through (more than 1 only for a shared store). */
  instances: number;
}

const configArbitrary: fc.Arbitrary<ModelRunConfig> = fc
  .tuple(
    fc.uniqueArray(fc.constantFrom(...MODEL_DEDUP_KEYS), { minLength: 1, maxLength: 3 }),
    fc.array(fc.constantFrom(-1, 0, 1), { minLength: 3, maxLength: 3 }),
    fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  )
  .map(([keys, ownerPicks, quotas]) => ({
    keys,
    owners: keys.map((_, i) => {
      const pick = ownerPicks[i];
      if (pick === 0) return { id: "owner-a", maxEntries: quotas[0] };
      return pick === 1 ? { id: "owner 🎉 b", maxEntries: quotas[1] } : undefined;
    }),
  }));

function commandsFor(
  config: ModelRunConfig,
  abilities: ModelRunAbilities,
): fc.Arbitrary<Iterable<DedupCommand>> {
  const slot = fc.nat({ max: config.keys.length - 1 });
  const via = fc.nat({ max: abilities.instances - 1 });
  const pick = fc.oneof(
    { arbitrary: fc.constant<TokenChoice>("latest"), weight: 6 },
    { arbitrary: fc.constantFrom<TokenChoice>("older", "another key's", "forged"), weight: 1 },
  );
  const claim = fc
    .tuple(slot, fc.constantFrom(...FINGERPRINTS), fc.constantFrom(...LEASES), via)
    .map(([i, fingerprint, leaseMs, v]) => {
      const owner = config.owners[i];
      const options =
        owner === undefined ? { leaseMs, fingerprint } : { leaseMs, fingerprint, owner };
      return new ClaimCommand(config.keys[i]!, options, v);
    });
  const complete = fc
    .tuple(
      slot,
      pick,
      fc.boolean(),
      fc.uint8Array({ maxLength: 12 }),
      fc.nat({ max: 3 }),
      fc.constantFrom(...TTLS),
      via,
    )
    .map(
      ([i, p, ok, bytes, offset, ttl, v]) =>
        new CompleteCommand(config.keys[i]!, p, ok, bytes, offset, ttl, v),
    );
  const release = fc
    .tuple(slot, pick, via)
    .map(([i, p, v]) => new ReleaseCommand(config.keys[i]!, p, v));
  const renew = fc
    .tuple(slot, pick, fc.constantFrom(...LEASES), via)
    .map(([i, p, leaseMs, v]) => new RenewCommand(config.keys[i]!, p, leaseMs, v));
  const advance = fc
    .oneof(fc.constantFrom(...STEPS), fc.integer({ min: 1, max: 12_000 }))
    .map((ms) => new AdvanceCommand(ms));
  const weighted: fc.WeightedArbitrary<DedupCommand>[] = [
    { arbitrary: claim, weight: 6 },
    { arbitrary: complete, weight: 4 },
    { arbitrary: release, weight: 2 },
    { arbitrary: renew, weight: 3 },
    { arbitrary: advance, weight: 4 },
  ];
  if (abilities.restart) {
    // Crashes are rarer (about 2 in 25 runs): a harness's crash may kill and start processes.
    const crash = fc.oneof({ arbitrary: fc.constant(false), weight: 10 }, fc.constant(true));
    weighted.push({ arbitrary: crash.map((c) => new RestartCommand(c)), weight: 1 });
  }
  return fc.commands([fc.oneof(...weighted)], { maxCommands: 40, size: "max" });
}

/** A model run: its fixed config and its commands, shrinkable together. */
export function modelRunArbitrary(
  abilities: ModelRunAbilities,
): fc.Arbitrary<[ModelRunConfig, Iterable<DedupCommand>]> {
  return configArbitrary.chain((config) =>
    fc.tuple(fc.constant(config), commandsFor(config, abilities)),
  );
}
