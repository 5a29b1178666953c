import type { ClaimResult } from "@assured/core/store";
import fc from "fast-check";
import { MODEL_DEDUP_KEYS } from "./dedup-arbitraries.js";
import { describeKey, describeOutcome, outcomeOf, ruleBroken } from "./dedup-outcome.js";
import type { DedupSystem } from "./dedup-system.js";

/** How the key's last holder let go before the race. */
type Ending = "lease ended" | "released" | "response expired";

/** One race: a key, its history of holders, how the last one ended, the racing claimers. */
export interface DedupRace {
  key: string;
  /** Holders whose lease ran out (each taken over by the next) before the last one. */
  takeovers: number;
  ending: Ending;
  claimers: number;
  /** Instances the claimers are spread over (1 unless the store is shared). */
  instances: number;
}

const LEASE_MS = 1_000;
const RACE_LEASE_MS = 30_000;
const fingerprint = "fp-race";

/** Races of 2–12 claimers on up to `maxInstances` instances. */
export function raceArbitrary(maxInstances: number): fc.Arbitrary<DedupRace> {
  return fc.record({
    key: fc.constantFrom(...MODEL_DEDUP_KEYS),
    takeovers: fc.nat({ max: 3 }),
    ending: fc.constantFrom<Ending>("lease ended", "released", "response expired"),
    claimers: fc.integer({ min: 2, max: 12 }),
    instances: fc.integer({ min: 1, max: maxInstances }),
  });
}

/** A claim that must win; returns it. */
function won(
  result: ClaimResult,
  call: string,
  rule: string,
): Extract<ClaimResult, { status: "claimed" }> {
  if (result.status !== "claimed")
    ruleBroken(rule, call, describeOutcome({ value: result }), "claimed");
  return result;
}

/**
 * Runs one race on `system` (opened with `race.instances` instances): holders come and go, the
 * last one lets go as `race.ending` says, then `race.claimers` claims race on the key. Exactly
 * one wins, with a fencing token larger than every earlier one of the key; the others answer
 * pending with the winner's lease end; the earlier holders' tokens are refused.
 */
export async function runRace(race: DedupRace, system: DedupSystem): Promise<void> {
  const { key } = race;
  const call = `claim(${describeKey(key)})`;
  const lease = { leaseMs: LEASE_MS, fingerprint };
  const fences: number[] = [];
  const tokens: string[] = [];
  for (let n = 0; n <= race.takeovers; n++) {
    const claimed = won(
      await system.store(n).claim(key, lease),
      call,
      "a claim of a free key, or one whose lease ended, wins (claimed)",
    );
    fences.push(claimed.fencingToken);
    tokens.push(claimed.token);
    if (n < race.takeovers) system.clock.advance(LEASE_MS);
  }
  const last = tokens[tokens.length - 1]!;
  if (race.ending === "lease ended") system.clock.advance(LEASE_MS);
  if (race.ending === "released" && !(await system.store(1).release(key, last))) {
    ruleBroken(
      "release by the holder of a running lease succeeds (true)",
      `release(${describeKey(key)})`,
      "false",
      "true",
    );
  }
  if (race.ending === "response expired") {
    const response = { ok: true, payload: new Uint8Array([1]) };
    if (!(await system.store(1).complete(key, last, response, { ttlMs: LEASE_MS }))) {
      ruleBroken(
        "complete by the holder of a running lease succeeds (true)",
        `complete(${describeKey(key)})`,
        "false",
        "true",
      );
    }
    system.clock.advance(LEASE_MS);
  }
  const start = system.clock();
  const results = await Promise.all(
    Array.from({ length: race.claimers }, (_, n) =>
      outcomeOf(() => system.store(n).claim(key, { leaseMs: RACE_LEASE_MS, fingerprint })),
    ),
  );
  const answers = results.map((r) => describeOutcome(r)).join(", ");
  const winners = results.flatMap((r) =>
    "value" in r && r.value.status === "claimed" ? [r.value] : [],
  );
  const racing = `${race.claimers} racing claims on ${race.instances} instance(s) after the ${race.ending}`;
  if (winners.length !== 1) {
    ruleBroken(
      "exactly one of many concurrent claims of a free key wins; the others answer pending",
      racing,
      `[${answers}]`,
      "one claimed",
    );
  }
  const winner = winners[0]!;
  const before = Math.max(...fences);
  if (!Number.isSafeInteger(winner.fencingToken) || winner.fencingToken <= before) {
    ruleBroken(
      "the winner of a takeover gets a fencing token larger than every earlier one of the key",
      racing,
      `fencingToken ${winner.fencingToken}`,
      `more than ${before} (earlier: ${fences.join(", ")})`,
    );
  }
  const pending = { status: "pending", leaseExpiresAt: start + RACE_LEASE_MS };
  for (const result of results) {
    const answer = "value" in result ? result.value : undefined;
    if (answer?.status === "claimed") continue;
    if (answer?.status !== "pending" || answer.leaseExpiresAt !== pending.leaseExpiresAt) {
      ruleBroken(
        "the losers of a race answer pending with the winner's lease end",
        racing,
        `[${answers}]`,
        JSON.stringify(pending),
      );
    }
  }
  for (const [n, token] of tokens.entries()) {
    if (await system.store(n + 1).renew(key, token, RACE_LEASE_MS)) {
      ruleBroken(
        "renew by a token whose lease was taken over answers false",
        `renew(${describeKey(key)}, holder #${n + 1})`,
        "true",
        "false",
      );
    }
  }
  if (!(await system.store(0).renew(key, winner.token, RACE_LEASE_MS))) {
    ruleBroken(
      "renew by the holder of a running lease extends it (true)",
      `renew(${describeKey(key)}, the winner)`,
      "false",
      "true",
    );
  }
}
