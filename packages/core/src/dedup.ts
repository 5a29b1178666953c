import type { DedupOwner, DedupStore, StoredResponse } from "./dedup-store.js";
import { AssuredError, toStoreError } from "./errors.js";
import { assertPositiveInteger } from "./validate.js";

/** How `runOnce` claims, waits and stores. */
export interface RunOnceOptions {
  /** How long a claim is held before a duplicate may take it over (the handler is presumed dead). */
  leaseMs: number;
  /** How long the stored response answers duplicates (the dedup window). */
  ttlMs: number;
  /** Wait for a duplicate that is still running (default true); false fails fast with `TIMEOUT`. */
  waitForPending?: boolean;
  /** Longest wait for a pending duplicate before failing with `TIMEOUT` (default `leaseMs + 1000`). */
  maxWaitMs?: number;
  /** First poll delay while waiting (default 5 ms); doubles up to `pollMaxMs`. */
  pollMinMs?: number;
  /** Longest poll delay while waiting (default 200 ms). */
  pollMaxMs?: number;
  /**
   * Whose entry the claim creates and that owner's quota (see `ClaimOptions.owner`); a claim
   * beyond it rejects with `QUOTA_EXCEEDED` before the handler runs.
   */
  owner?: DedupOwner;
}

/**
 * Runs the message once. Resolve with the response to store: `{ ok: true, payload }` for a
 * result, `{ ok: false, payload }` for an application error (stored and final). Throw for a
 * failure that must not be stored (the claim is released and the error passed on, so a retry
 * runs the handler again).
 */
export type DedupHandler = () => Promise<StoredResponse>;

/** What `runOnce` produced. */
export interface DedupOutcome {
  /** The response: fresh from the handler, or the stored one. */
  response: StoredResponse;
  /** True when the response was stored by an earlier (or concurrent) run of the same key. */
  duplicate: boolean;
  /**
   * For a fresh run: whether the response was stored. False when the lease had been taken over
   * or the store failed after the handler ran; a later duplicate may then run the handler again.
   */
  stored: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The G9 protocol over a `DedupStore`: claim the key; if claimed, run the handler and store its
 * response; if another run holds it, wait (polling with bounded exponential backoff) and return
 * its stored response; if the key is done, return the stored response; if the key carries
 * another fingerprint, reject with `IDEMPOTENCY_CONFLICT`. A run whose process died leaves its
 * claim to expire after `leaseMs`; the next duplicate then runs the handler again, once.
 *
 * @throws AssuredError `IDEMPOTENCY_CONFLICT`, `TIMEOUT` (still pending after `maxWaitMs`),
 * `QUOTA_EXCEEDED` (the owner holds its `maxEntries`), or the store's errors
 * (`STORE_UNAVAILABLE`, `LIMIT_EXCEEDED`…), or whatever the handler threw.
 * @example
 * const { response } = await runOnce(store, dedupKey(user, id), await messageFingerprint(name, payload),
 *   async () => ({ ok: true, payload: encode(await handle()) }), { leaseMs: 30_000, ttlMs: 86_400_000 });
 */
export async function runOnce(
  store: DedupStore,
  key: string,
  fingerprint: string,
  handler: DedupHandler,
  options: RunOnceOptions,
): Promise<DedupOutcome> {
  const { leaseMs, ttlMs, owner } = options;
  assertPositiveInteger(leaseMs, "leaseMs");
  assertPositiveInteger(ttlMs, "ttlMs");
  const maxWaitMs = options.maxWaitMs ?? leaseMs + 1000;
  const pollMaxMs = options.pollMaxMs ?? 200;
  let delay = options.pollMinMs ?? 5;
  // Durations in this process are measured on the monotonic clock: a step of the wall clock
  // neither ends the wait at once nor stretches it by the size of the step.
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    let claim: Awaited<ReturnType<DedupStore["claim"]>>;
    try {
      claim = await store.claim(
        key,
        owner === undefined ? { leaseMs, fingerprint } : { leaseMs, fingerprint, owner },
      );
    } catch (error) {
      throw toStoreError(error, "dedup claim");
    }
    switch (claim.status) {
      case "done":
        return { response: claim.response, duplicate: true, stored: true };
      case "conflict":
        throw conflictError();
      case "claimed":
        return runClaimed(store, key, claim.token, handler, ttlMs);
      case "pending": {
        const remaining = deadline - performance.now();
        if (options.waitForPending === false || remaining <= 0) {
          throw new AssuredError(
            "TIMEOUT",
            "an earlier copy of this message is still being handled; retry later.",
          );
        }
        await sleep(Math.min(delay, remaining));
        delay = Math.min(delay * 2, pollMaxMs);
      }
    }
  }
}

async function runClaimed(
  store: DedupStore,
  key: string,
  token: string,
  handler: DedupHandler,
  ttlMs: number,
): Promise<DedupOutcome> {
  let response: StoredResponse;
  try {
    response = await handler();
  } catch (error) {
    // Not a final outcome: give the key up so a retry can run the handler.
    await store.release(key, token).catch(() => undefined);
    throw error;
  }
  let stored = false;
  try {
    stored = await store.complete(key, token, response, { ttlMs });
  } catch {
    // The handler ran; its caller still gets the response. A duplicate may run it again.
  }
  return { response, duplicate: false, stored };
}

/** The error for one idempotency key reused with another message. */
export function conflictError(): AssuredError {
  return new AssuredError(
    "IDEMPOTENCY_CONFLICT",
    "this message id was already used for a different message; use a new id for each message.",
  );
}

/**
 * `runOnce` with in-process sharing: concurrent runs of the same key in this process share one
 * promise instead of polling the store (a client that reconnected while its first copy is still
 * running waits on it directly). The in-flight table holds only running keys and is bounded by
 * `maxInFlight`; beyond it runs go straight to the store, which stays correct.
 *
 * @example
 * const dedup = new Deduplicator(store, { leaseMs: 30_000, ttlMs: 86_400_000 });
 * const { response, duplicate } = await dedup.run(key, fingerprint, handler, {
 *   owner: { id: principal, maxEntries: 10_000 },
 * });
 */
export class Deduplicator {
  readonly #store: DedupStore;
  readonly #options: RunOnceOptions;
  readonly #maxInFlight: number;
  readonly #clock: () => number;
  readonly #inFlight = new Map<
    string,
    { fingerprint: string; promise: Promise<DedupOutcome>; startedAt: number }
  >();

  constructor(
    store: DedupStore,
    options: RunOnceOptions & {
      maxInFlight?: number;
      /**
       * Clock for the lease of in-process runs: how long a run here has lasted. Default the
       * monotonic `performance.now()`, so a step of the wall clock (NTP, an operator, a VM
       * resume) neither makes a running handler look hung (a duplicate would then take its claim
       * over and run it twice) nor hides a hung one. Tests inject the store's clock.
       */
      clock?: () => number;
    },
  ) {
    assertPositiveInteger(options.leaseMs, "leaseMs");
    assertPositiveInteger(options.ttlMs, "ttlMs");
    this.#store = store;
    this.#options = options;
    this.#maxInFlight = options.maxInFlight ?? 10_000;
    this.#clock = options.clock ?? (() => performance.now());
    assertPositiveInteger(this.#maxInFlight, "maxInFlight");
  }

  /** Number of keys currently running in this process. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Runs the handler once per key; see `runOnce`. `options.owner` is passed with the claim (the
   * owner's quota); give the same owner for a key every time.
   */
  run(
    key: string,
    fingerprint: string,
    handler: DedupHandler,
    options: { owner?: DedupOwner } = {},
  ): Promise<DedupOutcome> {
    const running = this.#inFlight.get(key);
    const now = this.#clock();
    if (running !== undefined && now - running.startedAt < this.#options.leaseMs) {
      if (running.fingerprint !== fingerprint) return Promise.reject(conflictError());
      return this.#join(running.promise);
    }
    // A run older than its lease is presumed hung: like a crashed node's, its claim may be taken
    // over through the store (G9), instead of every duplicate waiting for it forever.
    if (running !== undefined) this.#inFlight.delete(key);
    const promise = runOnce(
      this.#store,
      key,
      fingerprint,
      handler,
      options.owner === undefined ? this.#options : { ...this.#options, owner: options.owner },
    );
    if (this.#inFlight.size >= this.#maxInFlight) return promise;
    const entry = { fingerprint, promise, startedAt: now };
    this.#inFlight.set(key, entry);
    const forget = () => {
      if (this.#inFlight.get(key) === entry) this.#inFlight.delete(key);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Waits for a running copy, at most `maxWaitMs` (a hung handler must not block forever). */
  #join(running: Promise<DedupOutcome>): Promise<DedupOutcome> {
    const maxWaitMs = this.#options.maxWaitMs ?? this.#options.leaseMs + 1000;
    return new Promise<DedupOutcome>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AssuredError(
              "TIMEOUT",
              "an earlier copy of this message is still being handled; retry later.",
            ),
          ),
        maxWaitMs,
      );
      running.then(
        (outcome) => {
          clearTimeout(timer);
          resolve({ ...outcome, duplicate: true });
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
