import type {
  BatchItemResult,
  ClaimOptions,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  DedupStore,
  DedupStoreCapabilities,
  StoredResponse,
} from "./dedup-store.js";
import {
  assertClaimArguments,
  assertCompleteArguments,
  assertDedupBatch,
  assertReleaseArguments,
  assertRenewArguments,
  claimRequestError,
  completeRequestError,
  quotaExceededError,
} from "./dedup-store-arguments.js";
import { AssuredError } from "./errors.js";
import { nextFencingToken } from "./fencing-token.js";
import { newId } from "./ids.js";
import { createMemoryBackend, type MemoryBackend, type MemoryClaim } from "./memory-backend.js";
import { expiryOf, MemoryDedupOwners } from "./memory-dedup-owners.js";
import { assertMemoryBackendUp } from "./memory-outage.js";
import { type Clock, systemClock } from "./types.js";
import { assertKnownOptions, assertPositiveInteger } from "./validate.js";

/** Options of `MemoryDedupStore`. */
export interface MemoryDedupStoreOptions {
  /** Leases and TTLs are measured with this clock. Default: `systemClock`. */
  clock?: Clock;
  /**
   * Most keys held at once (leased or done), all owners together. When full, expired keys are
   * swept; if none expired, a claim of a new key is `LIMIT_EXCEEDED` (retryable). Default
   * 100,000. Each owner's share is bounded by the `owner.maxEntries` of its claims
   * (`QUOTA_EXCEEDED`). An entry costs about 570 bytes of heap (34-character key, 16-byte
   * response; more for larger responses), so the default holds about 60 MB.
   */
  maxEntries?: number;
  /** Data shared with other stores on the same backend. Default: a private backend. */
  backend?: MemoryBackend;
}

/** Default `maxEntries` of `MemoryDedupStore`. */
export const DEFAULT_MEMORY_MAX_DEDUP_ENTRIES = 100_000;

const OPTION_KEYS: readonly string[] = [
  "clock",
  "maxEntries",
  "backend",
] satisfies (keyof MemoryDedupStoreOptions)[];

/** How many of the oldest keys each claim checks for expiry (keeps the map small without scans). */
const SWEEP_STEP = 4;

/**
 * The reference `DedupStore`: claims and responses in memory, no I/O, safe in browsers. Each
 * operation is atomic, so exactly one of many concurrent claims wins, and an owner's quota is
 * exact (`quotaUnderContention: "exact"`). The number of keys is bounded; expired leases and
 * responses are swept a few at a time on every claim, and all at once when the store is full
 * (each once the clock has passed its fencing token, so a key claimed again after the sweep
 * gets a larger token from the clock).
 * Per-owner counts are kept on every write and removal, so a claim at an owner's quota drops
 * that owner's expired entries from a heap of expiry times instead of scanning.
 *
 * @example
 * const dedup = new MemoryDedupStore();
 * const claim = await dedup.claim("user-1:msg-9", { leaseMs: 30_000, fingerprint: "abc" });
 * if (claim.status === "claimed") await dedup.complete("user-1:msg-9", claim.token, response, { ttlMs: 86_400_000 });
 */
export class MemoryDedupStore implements DedupStore {
  readonly capabilities: DedupStoreCapabilities;
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly backend: MemoryBackend;
  private readonly claims: Map<string, MemoryClaim>;
  private readonly owners: MemoryDedupOwners;
  private lastFullSweepAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  /**
   * Claim tokens are this instance's random prefix and a counter: unique across instances
   * sharing a backend and across restarts on it (a new instance, a new prefix), and cheaper
   * than a random id per claim. Tokens are only compared, never guessed against.
   */
  private readonly tokenPrefix = `${newId()}.`;
  private tokens = 0;

  constructor(options: MemoryDedupStoreOptions = {}) {
    assertKnownOptions(options, OPTION_KEYS, "MemoryDedupStore", "MemoryDedupStoreOptions");
    if (options.maxEntries !== undefined) assertPositiveInteger(options.maxEntries, "maxEntries");
    if (options.clock !== undefined && typeof options.clock !== "function") {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        "clock must be a function returning milliseconds.",
      );
    }
    this.clock = options.clock ?? systemClock;
    this.maxEntries = options.maxEntries ?? DEFAULT_MEMORY_MAX_DEDUP_ENTRIES;
    const backend = options.backend ?? createMemoryBackend();
    this.backend = backend;
    this.claims = backend.claims;
    this.owners = new MemoryDedupOwners(backend.claims, backend.owners);
    const shared = options.backend !== undefined;
    this.capabilities = {
      sharedAcrossInstances: shared,
      persistent: shared,
      quotaUnderContention: "exact",
    };
  }

  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    assertClaimArguments(key, options);
    return this.claimNow(key, options);
  }

  /** Claims each request in order, as `claim` one after the other would (one batch, no I/O). */
  async claimMany(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "claimMany");
    return requests.map((request) =>
      settle(claimRequestError(request), () => this.claimNow(request.key, request.options)),
    );
  }

  /** Completes each request in order, as `complete` one after the other would. */
  async completeMany(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]> {
    this.assertOpen();
    assertDedupBatch(requests, "completeMany");
    return requests.map((r) =>
      settle(completeRequestError(r), () =>
        this.completeNow(r.key, r.token, r.response, r.options),
      ),
    );
  }

  private claimNow(key: string, options: ClaimOptions): ClaimResult {
    const now = this.clock();
    // Read before the sweep: a swept expired entry of this key still passes on its fencing token.
    const current = this.claims.get(key);
    this.sweepOldest(now);
    if (current !== undefined && !isExpired(current, now)) {
      if (current.fingerprint !== options.fingerprint) return { status: "conflict" };
      return current.state === "leased"
        ? { status: "pending", leaseExpiresAt: current.leaseExpiresAt }
        : { status: "done", response: copyResponse(current.response) };
    }
    // The key becomes a new unexpired entry of its owner: free, or its lease or response expired.
    const { owner } = options;
    if (
      owner !== undefined &&
      this.owners.held(owner.id) >= owner.maxEntries &&
      this.owners.dropExpired(owner.id, now, (k, claim) => this.drop(k, claim, now)) >=
        owner.maxEntries
    ) {
      throw quotaExceededError(owner);
    }
    if (!this.claims.has(key)) this.makeRoom(now);
    const token = this.tokenPrefix + (++this.tokens).toString(36);
    const fencingToken = nextFencingToken(current?.fencingToken, now);
    // Entries are object literals with the same fields (`owner` undefined when none): a
    // conditional spread costs microseconds per claim on V8 and varies their shapes.
    this.put(key, {
      state: "leased",
      fingerprint: options.fingerprint,
      token,
      leaseExpiresAt: now + options.leaseMs,
      fencingToken,
      owner: owner?.id,
    });
    return { status: "claimed", token, fencingToken };
  }

  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.assertOpen();
    assertCompleteArguments(key, token, response, options);
    return this.completeNow(key, token, response, options);
  }

  private completeNow(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): boolean {
    const current = this.claims.get(key);
    if (current?.state !== "leased" || current.token !== token) return false;
    this.put(key, {
      state: "done",
      fingerprint: current.fingerprint,
      response: copyResponse(response),
      expiresAt: this.clock() + options.ttlMs,
      fencingToken: current.fencingToken,
      owner: current.owner,
    });
    return true;
  }

  async release(key: string, token: string): Promise<boolean> {
    this.assertOpen();
    assertReleaseArguments(key, token);
    const current = this.claims.get(key);
    if (current?.state !== "leased" || current.token !== token) return false;
    // Kept as a lease that ended now, held by no token and counted for no owner: free at once,
    // and the next claim's fencing token follows this one's.
    this.put(key, {
      state: "leased",
      fingerprint: current.fingerprint,
      token: "",
      leaseExpiresAt: this.clock(),
      fencingToken: current.fencingToken,
    });
    return true;
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.assertOpen();
    assertRenewArguments(key, token, leaseMs);
    const current = this.claims.get(key);
    const now = this.clock();
    if (current?.state !== "leased" || current.token !== token || isExpired(current, now)) {
      return false;
    }
    this.put(key, { ...current, leaseExpiresAt: now + leaseMs });
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "This MemoryDedupStore was closed; create a new one.");
    }
    assertMemoryBackendUp(this.backend, "MemoryDedupStore");
  }

  /** Stores `claim` under `key`, last in the map's order (oldest first for the sweep). */
  private put(key: string, claim: MemoryClaim): void {
    const previous = this.claims.get(key);
    this.claims.delete(key);
    this.claims.set(key, claim);
    if (previous === undefined) this.owners.added(key, claim);
    else this.owners.replaced(key, previous, claim);
  }

  /**
   * Removes `key`, whose current claim `claim` expired, and its owner's count of it. Only once
   * the clock has passed its fencing token (`canForget`): until then a claim of the key without
   * an entry could get a token no larger, so the entry stays, given up by its owner (it no
   * longer counts for the quota) and held by no token, as after `release`.
   */
  private drop(key: string, claim: MemoryClaim, now: number): void {
    if (canForget(claim, now)) {
      this.claims.delete(key);
      this.owners.removed(claim);
      return;
    }
    if (claim.owner === undefined) return;
    this.put(key, {
      state: "leased",
      fingerprint: claim.fingerprint,
      token: "",
      leaseExpiresAt: expiryOf(claim),
      fencingToken: claim.fencingToken,
    });
  }

  /** Drops expired keys among the few least recently written ones. */
  private sweepOldest(now: number): void {
    let checked = 0;
    // Keys, not entries: no `[key, claim]` pair made per key checked, on every claim.
    for (const key of this.claims.keys()) {
      if (checked++ >= SWEEP_STEP) break;
      const claim = this.claims.get(key)!;
      if (isExpired(claim, now)) this.drop(key, claim, now);
    }
  }

  /** Ensures a new key fits: sweeps every expired key (at most once per clock tick) when full. */
  private makeRoom(now: number): void {
    if (this.claims.size < this.maxEntries) return;
    if (now !== this.lastFullSweepAt) {
      this.lastFullSweepAt = now;
      for (const [key, claim] of this.claims) {
        if (isExpired(claim, now)) this.drop(key, claim, now);
      }
    }
    if (this.claims.size >= this.maxEntries) {
      throw new AssuredError(
        "LIMIT_EXCEEDED",
        `MemoryDedupStore holds ${this.maxEntries} unexpired keys (maxEntries); raise it or shorten TTLs.`,
      );
    }
  }
}

/** One batch item: its validation error, else what `run` returns or throws. */
function settle<T>(invalid: AssuredError | undefined, run: () => T): BatchItemResult<T> {
  if (invalid !== undefined) return { status: "rejected", reason: invalid };
  try {
    return { status: "fulfilled", value: run() };
  } catch (error) {
    if (error instanceof AssuredError) return { status: "rejected", reason: error };
    throw error;
  }
}

function isExpired(claim: MemoryClaim, now: number): boolean {
  return expiryOf(claim) <= now;
}

/**
 * Whether an expired claim may be forgotten: the clock has passed its fencing token, so the
 * key's next claim, whose token comes from the clock, gets a larger one (contract, "Fencing").
 */
function canForget(claim: MemoryClaim, now: number): boolean {
  return claim.fencingToken < Math.floor(now);
}

function copyResponse(response: StoredResponse): StoredResponse {
  return { ok: response.ok, payload: response.payload.slice() };
}
