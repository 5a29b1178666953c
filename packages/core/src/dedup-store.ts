import type { AssuredError } from "./errors.js";

/**
 * The stored outcome of a handled client message: the handler's result or the application
 * error it threw, encoded with `encode`.
 */
export interface StoredResponse {
  ok: boolean;
  payload: Uint8Array;
}

/**
 * Whose entry a claim creates, and how many that owner may hold. The server passes the
 * principal and its `maxDedupEntriesPerPrincipal` limit, so one principal sending unique ids
 * cannot fill the store for everyone (DESIGN.md §8: budgets are per principal).
 */
export interface DedupOwner {
  /** Who the entry belongs to: 1–256 code points, opaque (the server passes the principal). */
  id: string;
  /**
   * Most unexpired entries (leased or done) this owner may hold at once. A claim that would
   * create one more is refused with `QUOTA_EXCEEDED`; expired, released and taken-over entries
   * free their place.
   */
  maxEntries: number;
}

/** Options for a claim. */
export interface ClaimOptions {
  /** How long the claim is held before another claimer may take it over (handler crash). */
  leaseMs: number;
  /** A digest of the message (name + payload); the same key with another fingerprint conflicts. */
  fingerprint: string;
  /**
   * The owner's quota (optional: direct store users may omit it). Give the same owner every
   * time a key is claimed: a store may keep an owner's entries together (Redis Cluster keeps
   * them in one hash slot), so the same key under another owner may be another entry.
   */
  owner?: DedupOwner;
}

/** The outcome of `claim`. */
export type ClaimResult =
  /**
   * This caller holds the key: run the handler (renewing the lease with `renew` while it runs),
   * then `complete` or `release` with the token. `fencingToken` is a positive safe integer
   * larger than every fencing token given earlier for the key, also after the store dropped its
   * entry (see "Fencing" on `DedupStore`): give it to the resources the handler writes, so they
   * can refuse a holder whose lease was taken over.
   */
  | { status: "claimed"; token: string; fencingToken: number }
  /** Another caller holds an unexpired lease; wait and claim again. */
  | { status: "pending"; leaseExpiresAt: number }
  /** The message was handled; here is its stored response. */
  | { status: "done"; response: StoredResponse }
  /** The key is held or done with a different fingerprint. */
  | { status: "conflict" };

/** One claim of `DedupStore.claimMany`: the arguments of one `claim` call. */
export interface ClaimRequest {
  key: string;
  options: ClaimOptions;
}

/** One complete of `DedupStore.completeMany`: the arguments of one `complete` call. */
export interface CompleteRequest {
  key: string;
  token: string;
  response: StoredResponse;
  options: { ttlMs: number };
}

/**
 * The outcome of one item of a batch call: what the single call would have resolved with
 * (`fulfilled`), or the error it would have rejected with (`rejected`, an `AssuredError`), in
 * the shape of `Promise.allSettled`.
 */
export type BatchItemResult<T> =
  | { status: "fulfilled"; value: T }
  | { status: "rejected"; reason: AssuredError };

/** What a dedup store can do; the conformance kit reads it. */
export interface DedupStoreCapabilities {
  /** Several instances can share the same data (claims race across instances). */
  sharedAcrossInstances: boolean;
  /** A new instance on the same backing data sees earlier claims and responses. */
  persistent: boolean;
  /**
   * How `owner.maxEntries` holds under concurrent claims of one owner. `"exact"` (the default
   * when absent): claims are serialized, so of many concurrent claims of new keys exactly as
   * many win as the owner has room for. `"optimistic"`: a claim writes its entry, then counts
   * the owner's entries and withdraws its own when over; the bound still holds once the claims
   * have answered, but near it concurrent claims may all be refused. Both never leave more
   * than `maxEntries` unexpired entries of an owner.
   */
  quotaUnderContention?: "exact" | "optimistic";
}

/**
 * The deduplication contract (DESIGN.md §4, G9). Keys are opaque strings (1–512 code points,
 * the server builds them from principal and message id).
 *
 * - `claim`: exactly one of many concurrent claims of a free key wins (`claimed`). While the
 *   lease runs, others get `pending` (same fingerprint) or `conflict` (different one). After
 *   `complete` everyone gets `done` with the response (or `conflict`) until the TTL passes.
 *   An expired lease can be claimed again (the holder is presumed dead).
 * - `complete(key, token, response, { ttlMs })`: stores the response; only the current holder's
 *   token is accepted (a holder whose lease was taken over gets `false`).
 * - `release(key, token)`: gives the key up without a response, so it can be claimed at once.
 * - `renew(key, token, leaseMs)`: while `token` still holds the key (claimed, not completed or
 *   released, lease not expired), the lease now ends `leaseMs` from now and it resolves true;
 *   otherwise false (taken over, completed, released, expired, unknown key). The server renews
 *   the lease of a running handler, and of its response until `complete` answered, so a slow
 *   handler or a slow write is not taken over. A holder's calls may overlap: a `complete` or
 *   `release` issued while the same token's `renew` is still in flight must not be refused
 *   because of it (the kit checks this; a store whose renewal changes internal state must wait
 *   for it or retry, never answer false while the token still holds the key).
 * - Fencing: every `claimed` answer carries a `fencingToken`, stored with the claim (it survives
 *   restarts of persistent stores and is seen by every instance). For a key it is larger than
 *   every token given earlier, also after the entry was dropped: with `now` the store's clock
 *   in ms, `max(previous + 1, floor(now))` after taking over an expired lease or claiming after
 *   `release` (so `release` keeps the entry, expired and without a holder, until the store
 *   drops expired entries), and `max(1, floor(now))` for a key without an entry
 *   (`nextFencingToken`). Why the clock: an entry is dropped only after its lease (or
 *   response) ended, so a claim after the drop comes at least a lease after the claim of any
 *   holder still running (one stalled past its lease: a GC pause, a frozen node), and a token
 *   read from the clock then is larger than that holder's, which grew by 1 per takeover, each
 *   at least a lease apart. This holds as long as the store's clock does not step back by more
 *   than a lease. Without it a dropped key would start again low, and the next holder's token
 *   would be smaller than the stalled holder's, which the resources would then prefer. A store
 *   that deletes entries itself (a sweep, a bound) deletes one only once its clock has passed
 *   the entry's token (`fencingToken < now`): a released entry is expired at once, and deleted
 *   and claimed again within the same millisecond it would give its token a second time. An
 *   expired entry kept for that reason still frees its owner's place (as after `release`).
 * - Responses: `complete` copies the response's bytes (later changes to the caller's array do
 *   not reach the store) and every `done` answer carries a copy of its own. A response keeps its
 *   bytes and its `ok` flag, and a key its fingerprint, across restarts of a persistent store
 *   and on every instance. `release` or `complete` by a token that no longer holds the key
 *   (taken over, completed, released) resolves false and changes nothing: a stored response
 *   stays until its TTL.
 * - Races: of many claims of a key whose lease expired (on one instance or several), exactly
 *   one wins, with a fencing token larger than the expired holder's; the others get `pending`.
 * - Time: leases and TTLs are measured with the store's clock where it has one (the database
 *   server's), else the injected clock.
 * - Quota: a claim with `owner` that would make the key a new unexpired entry (a free key, or
 *   one whose lease or response expired) is refused with `QUOTA_EXCEEDED` when the owner
 *   already holds `owner.maxEntries` unexpired entries. Answers that create nothing (`pending`,
 *   `done`, `conflict`) are given whatever the quota. Other owners are never affected. A store
 *   may also bound all entries together (`LIMIT_EXCEEDED`, retryable).
 *
 * Invalid arguments throw `AssuredError` (`INVALID_ARGUMENT`); backend failures are
 * `STORE_UNAVAILABLE` (the driver's error as `cause`, in bounded time, the same instance working
 * again once the backend is back); after `close()`, `STORE_CLOSED` for every method and every
 * key, also one the store never saw.
 */
export interface DedupStore {
  readonly capabilities: DedupStoreCapabilities;
  /** Tries to take the key; see `ClaimResult`. */
  claim(key: string, options: ClaimOptions): Promise<ClaimResult>;
  /** Stores the response for a claimed key; false if the token no longer holds the key. */
  complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean>;
  /** Releases a claimed key without a response; false if the token no longer holds it. */
  release(key: string, token: string): Promise<boolean>;
  /**
   * Extends the lease of a claimed key to end `leaseMs` from now (store clock); false if the
   * token no longer holds the key (taken over, completed, released, expired, unknown key).
   */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /**
   * Optional batch of claims (one transaction, one script call…): resolves with one result per
   * request, in order, each what `claim` would have answered had the requests been claimed one
   * after the other in that order (quota counted in order, a key repeated in the batch sees the
   * earlier item's claim, fencing tokens as for single claims). An item whose single call would
   * throw (`INVALID_ARGUMENT`, `QUOTA_EXCEEDED`, `LIMIT_EXCEEDED`) is `rejected` with that error
   * and the others go on. The whole call rejects only when the backend failed
   * (`STORE_UNAVAILABLE`; nothing or any prefix of the items may have been applied), after
   * `close()` (`STORE_CLOSED`), or when `requests` is not an array of at most
   * `MAX_DEDUP_BATCH` items (`INVALID_ARGUMENT`). Use `claimMany` of `@assured/core`, which
   * falls back to single calls for a store without it.
   */
  claimMany?(requests: readonly ClaimRequest[]): Promise<BatchItemResult<ClaimResult>[]>;
  /**
   * Optional batch of completes, with the rules of `claimMany`: one result per request, in
   * order, each what `complete` would have answered (per-item `INVALID_ARGUMENT` is `rejected`).
   */
  completeMany?(requests: readonly CompleteRequest[]): Promise<BatchItemResult<boolean>[]>;
  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
}
