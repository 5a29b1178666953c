import type { ClaimResult, StoredResponse } from "@assured/core/store";
import { describeKey, describeOutcome, hexOf, type Outcome, ruleBroken } from "./dedup-outcome.js";

/** A claim's options as the model sees them (the owner's quota included). */
export interface ModelClaimOptions {
  leaseMs: number;
  fingerprint: string;
  owner?: { id: string; maxEntries: number };
}

/** A key claimed by `token`; its lease ends at `leaseUntil` (ended when `leaseUntil <= now`). */
interface Held {
  kind: "held";
  token: string;
  fence: number;
  leaseUntil: number;
  fingerprint: string;
  owner: string | undefined;
}

/** A key whose handler completed: the response is answered until `expiresAt`. */
interface Done {
  kind: "done";
  fence: number;
  fingerprint: string;
  response: StoredResponse;
  expiresAt: number;
  owner: string | undefined;
}

/** A key given up (released, or its holder refused after the lease ended): free, held by nobody. */
interface Released {
  kind: "released";
  fence: number;
}

type Entry = Held | Done | Released;

/** The entry when it is unexpired at `now`: a running lease or an unexpired response. */
function liveAt(entry: Entry | undefined, now: number): Held | Done | undefined {
  if (entry?.kind === "held" && entry.leaseUntil > now) return entry;
  if (entry?.kind === "done" && entry.expiresAt > now) return entry;
  return undefined;
}

function sameResponse(got: unknown, expected: StoredResponse): boolean {
  const response = got as { ok?: unknown; payload?: unknown } | undefined;
  if (response?.ok !== expected.ok || !(response.payload instanceof Uint8Array)) return false;
  const bytes = response.payload;
  return (
    bytes.byteLength === expected.payload.byteLength &&
    bytes.every((b, i) => b === expected.payload[i])
  );
}

/**
 * The reference model of the `DedupStore` contract (packages/core/src/dedup-store.ts), written
 * from the contract alone: per key nothing, a lease held by a token, a stored response, or a
 * released entry. Each method takes what the store answered to a call, throws naming the rule
 * when the contract does not allow that answer, and otherwise moves to the state it implies.
 *
 * Where the contract leaves a choice, the model accepts each allowed answer and follows it: a
 * store may drop an expired entry (lease ended, response expired, released) at any time, and
 * the next claim's fencing token may be any larger one (previous + 1, or read from the store's
 * clock), never one given before; and the holder of an ended lease nobody took over may still
 * `complete` or `release` (true), unless the entry was dropped (false).
 */
export class DedupModel {
  private readonly entries = new Map<string, Entry>();
  private readonly issued: { key: string; token: string }[] = [];

  /** The tokens the store issued for `key` (`of`), or for every other key, oldest first. */
  tokens(key: string, of: "key" | "other keys"): string[] {
    return this.issued.filter((i) => (i.key === key) === (of === "key")).map((i) => i.token);
  }

  /** Checks a claim's answer (`now`: the store clock at the call) and applies it. */
  claim(key: string, options: ModelClaimOptions, now: number, outcome: Outcome<ClaimResult>): void {
    const call = `claim(${describeKey(key)}, fingerprint ${JSON.stringify(options.fingerprint)})`;
    const got = describeOutcome(outcome);
    const result = "value" in outcome ? outcome.value : undefined;
    const entry = this.entries.get(key);
    const live = liveAt(entry, now);
    if (live !== undefined && live.fingerprint !== options.fingerprint) {
      if (result?.status !== "conflict") {
        ruleBroken(
          "a claim of a held or done key with another fingerprint answers conflict",
          call,
          got,
          '{"status":"conflict"}',
        );
      }
      return;
    }
    if (live?.kind === "held") {
      if (result?.status !== "pending" || result.leaseExpiresAt !== live.leaseUntil) {
        ruleBroken(
          "a claim of a key whose lease runs (it ends when the clock reaches it) answers pending with the lease end",
          call,
          got,
          JSON.stringify({ status: "pending", leaseExpiresAt: live.leaseUntil }),
        );
      }
      return;
    }
    if (live?.kind === "done") {
      if (result?.status !== "done" || !sameResponse(result.response, live.response)) {
        ruleBroken(
          "a claim of a completed key answers done with the stored response until its TTL ends: the same ok flag and the exact bytes, unchanged by what callers did to the bytes they passed or got",
          call,
          got,
          `{"status":"done","response":{"ok":${live.response.ok},"payload":"${hexOf(live.response.payload)}"}}`,
        );
      }
      return;
    }
    const { owner } = options;
    if (owner !== undefined && this.heldBy(owner.id, now) >= owner.maxEntries) {
      if (!("error" in outcome) || outcome.error !== "QUOTA_EXCEEDED") {
        ruleBroken(
          `a claim that would give owner ${JSON.stringify(owner.id)} more than owner.maxEntries (${owner.maxEntries}) unexpired entries is refused`,
          call,
          got,
          "a thrown QUOTA_EXCEEDED",
        );
      }
      return;
    }
    this.checkWon(call, got, result, entry);
    const won = result as Extract<ClaimResult, { status: "claimed" }>;
    this.issued.push({ key, token: won.token });
    this.entries.set(key, {
      kind: "held",
      token: won.token,
      fence: won.fencingToken,
      leaseUntil: now + options.leaseMs,
      fingerprint: options.fingerprint,
      owner: owner?.id,
    });
  }

  /** Checks that a claim of a free or expired key won, with a new token and the right fence. */
  private checkWon(
    call: string,
    got: string,
    result: ClaimResult | undefined,
    entry: Entry | undefined,
  ): void {
    if (result?.status !== "claimed") {
      ruleBroken(
        "a claim of a free key, or one whose lease or response ended, or that was released, wins (claimed)",
        call,
        got,
        "claimed",
      );
    }
    if (
      typeof result.token !== "string" ||
      result.token.length === 0 ||
      this.issued.some((i) => i.token === result.token)
    ) {
      ruleBroken(
        "every won claim gets a new non-empty token",
        call,
        got,
        "a token never issued before",
      );
    }
    const fence = result.fencingToken;
    if (!Number.isSafeInteger(fence) || fence < 1) {
      ruleBroken(
        "every won claim gets a fencing token that is a positive safe integer",
        call,
        got,
        "fencingToken ≥ 1",
      );
    }
    // The model keeps every key's latest entry, dropped or not: `entry.fence` is the largest
    // token the key was given so far (each accepted token is larger than the one before).
    if (entry !== undefined && fence <= entry.fence) {
      ruleBroken(
        "a claim after a takeover, a release or an expired response gets a fencing token larger than every earlier one of the key, also when the store dropped the expired entry",
        call,
        got,
        `fencingToken > ${entry.fence}`,
      );
    }
  }

  /** Checks a complete's answer; `response` is a copy taken before the call. */
  complete(
    key: string,
    token: string,
    response: StoredResponse,
    ttlMs: number,
    now: number,
    outcome: Outcome<boolean>,
  ): void {
    const call = `complete(${describeKey(key)}, ${this.describeToken(token)})`;
    const entry = this.entries.get(key);
    const held = entry?.kind === "held" && entry.token === token ? entry : undefined;
    const answer = this.answerOf(outcome, call, held, "complete", now);
    if (answer && held !== undefined) {
      this.entries.set(key, {
        kind: "done",
        fence: held.fence,
        fingerprint: held.fingerprint,
        response,
        expiresAt: now + ttlMs,
        owner: held.owner,
      });
    } else if (held !== undefined) {
      this.entries.set(key, { kind: "released", fence: held.fence });
    }
  }

  /** Checks a release's answer and applies it. */
  release(key: string, token: string, now: number, outcome: Outcome<boolean>): void {
    const call = `release(${describeKey(key)}, ${this.describeToken(token)})`;
    const entry = this.entries.get(key);
    const held = entry?.kind === "held" && entry.token === token ? entry : undefined;
    this.answerOf(outcome, call, held, "release", now);
    if (held !== undefined) this.entries.set(key, { kind: "released", fence: held.fence });
  }

  /** Checks a renew's answer and applies it: only an unended lease of `token` is renewed. */
  renew(key: string, token: string, leaseMs: number, now: number, outcome: Outcome<boolean>): void {
    const call = `renew(${describeKey(key)}, ${this.describeToken(token)}, ${leaseMs})`;
    const entry = this.entries.get(key);
    const held = entry?.kind === "held" && entry.token === token ? entry : undefined;
    const running = held !== undefined && held.leaseUntil > now;
    const got = describeOutcome(outcome);
    if (!("value" in outcome) || outcome.value !== running) {
      ruleBroken(
        running
          ? "renew by the holder of a running lease extends it (true)"
          : "renew by a token that does not hold a running lease (ended, taken over, completed, released, never issued, another key's) answers false",
        call,
        got,
        String(running),
      );
    }
    if (running) held.leaseUntil = now + leaseMs;
  }

  /**
   * The answer the contract allows to a complete or release by `held` (the key's holder with
   * this token, if any): true while its lease runs at `now`, false without a holder, either once
   * the lease ended (the store may have dropped the entry). Throws when it is not allowed.
   */
  private answerOf(
    outcome: Outcome<boolean>,
    call: string,
    held: Held | undefined,
    what: string,
    now: number,
  ): boolean {
    const got = describeOutcome(outcome);
    const value = "value" in outcome ? outcome.value : undefined;
    if (typeof value !== "boolean")
      ruleBroken(`${what} answers a boolean`, call, got, "true or false");
    if (held === undefined && value) {
      ruleBroken(
        `${what} with a token that does not hold the key (never issued, another key's, taken over, released, completed) answers false`,
        call,
        got,
        "false",
      );
    }
    if (held !== undefined && !value && held.leaseUntil > now) {
      ruleBroken(`${what} by the holder of a running lease succeeds (true)`, call, got, "true");
    }
    return value;
  }

  /** How many unexpired entries (running leases, unexpired responses) `owner` holds. */
  private heldBy(owner: string, now: number): number {
    let count = 0;
    for (const entry of this.entries.values()) {
      const live = liveAt(entry, now);
      if (live !== undefined && live.owner === owner) count++;
    }
    return count;
  }

  private describeToken(token: string): string {
    const index = this.issued.findIndex((i) => i.token === token);
    return index < 0 ? "a token never issued" : `the token of won claim #${index + 1}`;
  }
}
