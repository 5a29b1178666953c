/**
 * The stored outcome of a handled client message: the handler's result or the application
 * error it threw, encoded with `encode`.
 */
export interface StoredResponse {
  ok: boolean;
  payload: Uint8Array;
}

/** Options for a claim. */
export interface ClaimOptions {
  /** How long the claim is held before another claimer may take it over (handler crash). */
  leaseMs: number;
  /** A digest of the message (name + payload); the same key with another fingerprint conflicts. */
  fingerprint: string;
}

/** The outcome of `claim`. */
export type ClaimResult =
  /** This caller holds the key: run the handler, then `complete` or `release` with the token. */
  | { status: "claimed"; token: string }
  /** Another caller holds an unexpired lease; wait and claim again. */
  | { status: "pending"; leaseExpiresAt: number }
  /** The message was handled; here is its stored response. */
  | { status: "done"; response: StoredResponse }
  /** The key is held or done with a different fingerprint. */
  | { status: "conflict" };

/** What a dedup store can do; the conformance kit reads it. */
export interface DedupStoreCapabilities {
  /** Several instances can share the same data (claims race across instances). */
  sharedAcrossInstances: boolean;
  /** A new instance on the same backing data sees earlier claims and responses. */
  persistent: boolean;
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
 *
 * Invalid arguments throw `AssuredError` (`INVALID_ARGUMENT`); backend failures are
 * `STORE_UNAVAILABLE`; after `close()`, `STORE_CLOSED`.
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
  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
}
