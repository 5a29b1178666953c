import type { StoredResponse } from "@assured/core/store";
import fc from "fast-check";
import { MODEL_DEDUP_KEYS } from "./dedup-arbitraries.js";
import {
  describeKey,
  describeOutcome,
  type Outcome,
  outcomeOf,
  ruleBroken,
} from "./dedup-outcome.js";
import type { DedupSystem } from "./dedup-system.js";

/** How the holder lets go: its handler answered (`complete`, or the batch call), or threw. */
type Ending = "complete" | "completeMany" | "release";

/** A call that overlaps the holder's ending: one of its own renewals, or another's claim. */
interface Overlap {
  call: "renew" | "claim";
  /** The instance it goes through (modulo the race's instances). */
  via: number;
  /** Issued this many calls after the ending (negative: before it). */
  at: number;
}

/**
 * One holder race: a key is claimed, then the holder lets go (`ending`) while its own renewals
 * (the lease keeper's, still on their way) and other processes' claims of the key are in
 * flight, issued in a generated order over up to `instances` instances.
 */
export interface DedupHolderRace {
  key: string;
  ending: Ending;
  /** The instance the holder claims and lets go through. */
  holderVia: number;
  overlaps: Overlap[];
  instances: number;
}

const LEASE_MS = 30_000;
const fingerprint = "fp-holder";
const response: StoredResponse = { ok: true, payload: new Uint8Array([7, 0, 7]) };

/** Holder races with 1–6 overlapping calls on up to `maxInstances` instances. */
export function holderRaceArbitrary(maxInstances: number): fc.Arbitrary<DedupHolderRace> {
  const overlap: fc.Arbitrary<Overlap> = fc.record({
    call: fc.constantFrom<Overlap["call"]>("renew", "renew", "claim"),
    via: fc.nat({ max: maxInstances - 1 }),
    at: fc.integer({ min: -3, max: 3 }),
  });
  return fc.record({
    key: fc.constantFrom(...MODEL_DEDUP_KEYS),
    ending: fc.constantFrom<Ending>("complete", "completeMany", "release"),
    holderVia: fc.nat({ max: maxInstances - 1 }),
    overlaps: fc.array(overlap, { minLength: 1, maxLength: 6 }),
    instances: fc.integer({ min: 1, max: maxInstances }),
  });
}

/**
 * Runs one holder race. The holder's complete or release must succeed (true) whatever its own
 * renewals do meanwhile: refused, its response would go unstored and the message run again.
 * A renewal answers true or false, never an error; a claim made while the lease runs answers
 * pending (or done once the response is stored), never claimed. Afterwards a claim finds the
 * stored response (done), or the freed key (claimed, with a larger fencing token).
 */
export async function runHolderRace(race: DedupHolderRace, system: DedupSystem): Promise<void> {
  const { key } = race;
  const holder = system.store(race.holderVia);
  const first = await holder.claim(key, { leaseMs: LEASE_MS, fingerprint });
  if (first.status !== "claimed") {
    ruleBroken(
      "a claim of a free key wins (claimed)",
      `claim(${describeKey(key)})`,
      describeOutcome({ value: first }),
      "claimed",
    );
  }
  const { token } = first;
  const ending = (): Promise<boolean> => {
    if (race.ending === "release") return holder.release(key, token);
    if (race.ending === "complete") {
      return holder.complete(key, token, response, { ttlMs: LEASE_MS });
    }
    return completeOne(system, race.holderVia, key, token);
  };
  // The calls in issue order: the ending at 0, the overlaps around it (stable for equal `at`).
  const order = [
    { at: 0, run: (): Promise<Outcome<unknown>> => outcomeOf(ending), label: race.ending },
    ...race.overlaps.map((o) => ({
      at: o.at + (o.at >= 0 ? 0.5 : -0.5),
      label: `${o.call} via instance ${o.via % race.instances}`,
      run: (): Promise<Outcome<unknown>> =>
        o.call === "renew"
          ? outcomeOf(() => system.store(o.via).renew(key, token, LEASE_MS))
          : outcomeOf(() => system.store(o.via).claim(key, { leaseMs: LEASE_MS, fingerprint })),
    })),
  ].sort((a, b) => a.at - b.at);
  const outcomes = await Promise.all(order.map((c) => c.run()));
  const issued = order.map((c, n) => `${c.label} → ${describeOutcome(outcomes[n]!)}`).join("; ");
  const scene = `${describeKey(key)}, the holder's ${race.ending} among: ${issued}`;
  for (const [n, c] of order.entries()) {
    const outcome = outcomes[n]!;
    if (c.at === 0) {
      if (!("value" in outcome) || outcome.value !== true) {
        ruleBroken(
          `${race.ending} by the holder of a running lease succeeds (true), also while its own renewal is in flight`,
          scene,
          describeOutcome(outcome),
          "true",
        );
      }
      continue;
    }
    if (
      c.label.startsWith("renew") &&
      !("value" in outcome && typeof outcome.value === "boolean")
    ) {
      ruleBroken("renew answers true or false", scene, describeOutcome(outcome), "a boolean");
    }
    if (c.label.startsWith("claim")) {
      const status = "value" in outcome ? (outcome.value as { status?: string }).status : undefined;
      const allowed = race.ending === "release" ? ["pending", "claimed"] : ["pending", "done"];
      if (status === undefined || !allowed.includes(status)) {
        ruleBroken(
          "a claim of a key whose lease runs answers pending (done once its response is stored; claimed once it is released)",
          scene,
          describeOutcome(outcome),
          allowed.join(" or "),
        );
      }
    }
  }
  const claimedMeanwhile = outcomes.filter(
    (o) => "value" in o && (o.value as { status?: string }).status === "claimed",
  ).length;
  if (claimedMeanwhile > 1) {
    ruleBroken("at most one claim of a freed key wins", scene, `${claimedMeanwhile} claimed`, "1");
  }
  const after = await outcomeOf(() =>
    system.store(race.holderVia + 1).claim(key, { leaseMs: LEASE_MS, fingerprint }),
  );
  const status = "value" in after ? after.value.status : undefined;
  if (race.ending === "release") {
    const expected = claimedMeanwhile === 1 ? "pending" : "claimed";
    if (status !== expected) {
      ruleBroken(
        "a key its holder released is free (claimed), or held by the one claim that won it",
        `${scene}; then claim`,
        describeOutcome(after),
        expected,
      );
    }
    if (status === "claimed" && "value" in after && after.value.status === "claimed") {
      if (after.value.fencingToken <= first.fencingToken) {
        ruleBroken(
          "the next holder of a key gets a larger fencing token",
          `${scene}; then claim`,
          `fencingToken ${after.value.fencingToken}`,
          `more than ${first.fencingToken}`,
        );
      }
    }
    return;
  }
  const stored = "value" in after && after.value.status === "done" ? after.value.response : null;
  if (stored === null || !sameResponse(stored, response)) {
    ruleBroken(
      "a response its holder stored is answered to every later claim (done, with the response)",
      `${scene}; then claim`,
      describeOutcome(after),
      describeOutcome({ value: { status: "done", response } }),
    );
  }
}

/** `completeMany` of one item where the store has it, else `complete`. */
async function completeOne(
  system: DedupSystem,
  via: number,
  key: string,
  token: string,
): Promise<boolean> {
  const store = system.store(via);
  if (store.completeMany === undefined) {
    return store.complete(key, token, response, { ttlMs: LEASE_MS });
  }
  const [result] = await store.completeMany([
    { key, token, response, options: { ttlMs: LEASE_MS } },
  ]);
  if (result?.status !== "fulfilled") throw result?.reason ?? new Error("no result");
  return result.value;
}

function sameResponse(a: StoredResponse, b: StoredResponse): boolean {
  return (
    a.ok === b.ok &&
    a.payload.length === b.payload.length &&
    a.payload.every((byte, n) => byte === b.payload[n])
  );
}
