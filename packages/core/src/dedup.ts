import { unwatchAbort, watchAbort } from "./abort-watch.js";
import { claimMany, completeMany } from "./dedup-batch.js";
import type {
  BatchItemResult,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  DedupOwner,
  DedupStore,
  StoredResponse,
} from "./dedup-store.js";
import { MAX_DEDUP_BATCH } from "./dedup-store-arguments.js";
import { AssuredError, isAssuredError, toStoreError } from "./errors.js";
import { type GroupReceiver, GroupWriter } from "./group-writer.js";
import {
  LeaseKeeper,
  type LeaseKeeperOptions,
  type LeaseTimers,
  monotonicLeaseTimers,
} from "./lease-keeper.js";
import { assertPositiveInteger } from "./validate.js";

export {
  LeaseKeeper,
  type LeaseKeeperOptions,
  type LeaseTimers,
  leaseLostError,
  monotonicLeaseTimers,
} from "./lease-keeper.js";

/** How `runOnce` claims, waits and stores. */
export interface RunOnceOptions {
  /** How long a claim is held before a duplicate may take it over (the handler is presumed dead). */
  leaseMs: number;
  /** How long the stored response answers duplicates (the dedup window). */
  ttlMs: number;
  /**
   * How often a running handler's lease is renewed (default `leaseMs / 3`, rounded down, at
   * least 1), and still while its response is written (for at most one more `leaseMs`). A
   * lease that is taken over, or not renewed before it ends, is lost: while the handler runs,
   * its `signal` aborts with `LEASE_LOST` and its answer is not stored; while its response is
   * written, the store's token check decides whether the write lands.
   */
  renewEveryMs?: number;
  /** Clock and timers of the renewals (default `monotonicLeaseTimers`); tests inject fakes. */
  timers?: LeaseTimers;
  /**
   * Gives the run up when aborted (a handler timeout): a wait for a duplicate stops, a running
   * handler's signal aborts with this signal's reason, its claim is released and nothing is
   * stored. The run rejects with the reason (an `AssuredError`; anything else becomes `TIMEOUT`).
   */
  signal?: AbortSignal;
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

/** What a running handler learns about its claim. */
export interface DedupRun {
  /**
   * Aborted when the run's lease is lost (`LEASE_LOST`: taken over, or not renewed in time),
   * when the run is given up (`RunOnceOptions.signal`), or by `Deduplicator.abortRunning`
   * (shutdown). Its `reason` is an `AssuredError`. Stop work and do not write once it aborts.
   */
  signal: AbortSignal;
  /**
   * The claim's fencing token: strictly increasing per key across takeovers. Give it to the
   * storage the handler writes, which keeps the highest token seen and refuses writes with a
   * lower one: a run that lost its lease (and does not know yet) then cannot overwrite the work
   * of the run that took over.
   */
  fencingToken: number;
}

/**
 * Runs the message once. Resolve with the response to store: `{ ok: true, payload }` for a
 * result, `{ ok: false, payload }` for an application error (stored and final). Throw for a
 * failure that must not be stored (the claim is released and the error passed on, so a retry
 * runs the handler again).
 */
export type DedupHandler = (run: DedupRun) => Promise<StoredResponse>;

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

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abandonReason(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error a given-up run rejects with: the signal's reason if it is an `AssuredError`. */
function abandonReason(signal: AbortSignal | undefined): AssuredError {
  const reason: unknown = signal?.reason;
  if (reason instanceof AssuredError) return reason;
  return new AssuredError("TIMEOUT", "the run was given up before it finished; retry later.", {
    cause: reason,
  });
}

/** Called with a run's `LeaseKeeper` once its key is claimed (the `Deduplicator` tracks it). */
type OnClaimed = (keeper: LeaseKeeper) => void;

/** Stores a response (`DedupStore.complete`, or the `Deduplicator`'s grouped completes). */
type Complete = (
  key: string,
  token: string,
  response: StoredResponse,
  options: { ttlMs: number },
) => Promise<boolean>;

/** How a tracked run claims and stores beyond `RunOnceOptions` (the `Deduplicator`'s additions). */
interface RunHooks {
  onClaimed?: OnClaimed | undefined;
  /** A claim made ahead of the run (`Deduplicator.claimAhead`), used instead of the first claim. */
  ahead?: AheadClaim | undefined;
  /** How the response is stored (default `store.complete`). */
  complete?: Complete | undefined;
  /** Called once the handler's response is known and its complete was issued (not resolved). */
  onHandled?: (() => void) | undefined;
  /** Called each time the run waits for a pending copy of its key. */
  onWait?: (() => void) | undefined;
  /** The claim's owner, instead of `RunOnceOptions.owner` (no options object per run). */
  owner?: DedupOwner | undefined;
  /** Gives the run up, instead of `RunOnceOptions.signal`. */
  signal?: AbortSignal | undefined;
}

/** A claimed key's lease as its `LeaseKeeper` takes it: kept from the claim on. */
type AheadLease = Omit<LeaseKeeperOptions, "onLost">;

/**
 * Keeps a claimed key's lease from its claim on; its loss goes to `onLost` until whoever runs
 * the key takes it over (`LeaseKeeper.handOver`).
 */
function holdLease(
  store: DedupStore,
  key: string,
  token: string,
  lease: AheadLease,
  onLost: (reason: AssuredError) => void,
): LeaseKeeper {
  // The lease object is the keeper's options as it is (no copy per message); the loss goes to
  // `onLost` until a run takes the claim over.
  const keeper = new LeaseKeeper(store, key, token, lease);
  keeper.handOver(onLost);
  return keeper;
}

/**
 * The G9 protocol over a `DedupStore`: claim the key; if claimed, run the handler and store its
 * response; if another run holds it, wait (polling with bounded exponential backoff) and return
 * its stored response; if the key is done, return the stored response; if the key carries
 * another fingerprint, reject with `IDEMPOTENCY_CONFLICT`. A run whose process died leaves its
 * claim to expire after `leaseMs`; the next duplicate then runs the handler again, once.
 *
 * While the handler runs, its lease is renewed every `renewEveryMs` (DESIGN.md §8: leases are
 * renewed and fenced), so a slow handler is not taken over. If a renewal answers false, or none
 * succeeds before the lease would end, the lease is lost: the handler's `signal` aborts, the run
 * rejects with `LEASE_LOST` at once and its answer is never stored. Once the handler answered,
 * the lease is still renewed while its response is written, for at most one more `leaseMs` (a
 * slow write is not taken over; a write that never answers does not hold the key for ever); a
 * loss then only aborts the signal, and the store's token check decides whether the write
 * lands. The handler gets the claim's `fencingToken` for its own writes.
 *
 * @throws AssuredError `IDEMPOTENCY_CONFLICT`, `TIMEOUT` (still pending after `maxWaitMs`, or
 * given up through `options.signal`), `LEASE_LOST`,
 * `QUOTA_EXCEEDED` (the owner holds its `maxEntries`), or the store's errors
 * (`STORE_UNAVAILABLE`, `LIMIT_EXCEEDED`…), or whatever the handler threw.
 * @example
 * const { response } = await runOnce(store, dedupKey(user, id), await messageFingerprint(name, payload),
 *   async () => ({ ok: true, payload: encode(await handle()) }), { leaseMs: 30_000, ttlMs: 86_400_000 });
 */
export function runOnce(
  store: DedupStore,
  key: string,
  fingerprint: string,
  handler: DedupHandler,
  options: RunOnceOptions,
): Promise<DedupOutcome> {
  return runOnceTracked(store, key, fingerprint, handler, options, {});
}

/** Time between a lease's renewals: `renewEveryMs`, else a third of the lease (at least 1 ms). */
function renewEveryOf(options: Pick<RunOnceOptions, "leaseMs" | "renewEveryMs">): number {
  return options.renewEveryMs ?? Math.max(1, Math.floor(options.leaseMs / 3));
}

/** How a run stores its response: the hook's (grouped writes), else `store.complete`. */
function completeOf(store: DedupStore, hooks: RunHooks): Complete {
  return hooks.complete ?? ((key, token, response, o) => store.complete(key, token, response, o));
}

/**
 * `runOnce` with the `Deduplicator`'s hooks. A key claimed ahead whose claim is already known
 * (the usual case for a socket's queued messages) runs at once, without the claim loop's own
 * promise.
 */
function runOnceTracked(
  store: DedupStore,
  key: string,
  fingerprint: string,
  handler: DedupHandler,
  options: RunOnceOptions,
  hooks: RunHooks,
): Promise<DedupOutcome> {
  const { leaseMs, ttlMs } = options;
  try {
    // Checked before the claim made ahead is taken: a refused run must leave it to be discarded.
    assertPositiveInteger(leaseMs, "leaseMs");
    assertPositiveInteger(ttlMs, "ttlMs");
  } catch (error) {
    return Promise.reject(error);
  }
  const known = hooks.ahead?.takeNow();
  const signal = hooks.signal ?? options.signal;
  if (known === undefined || known === "pending" || known.claim.status !== "claimed") {
    return claimAndRun(store, key, fingerprint, handler, options, hooks, known);
  }
  if (signal?.aborted) {
    // As the claim loop does: the claim made ahead is released, the run gives up.
    known.held?.lose(abandonReason(signal));
    return Promise.reject(abandonReason(signal));
  }
  const timers = options.timers ?? monotonicLeaseTimers;
  const renewEveryMs = renewEveryOf(options);
  const { claim } = known;
  return runClaimed(store, { key, token: claim.token, fencingToken: claim.fencingToken }, handler, {
    ttlMs,
    lease: { leaseMs, renewEveryMs, claimedAt: timers.now(), timers },
    held: known.held,
    signal,
    onClaimed: hooks.onClaimed,
    complete: completeOf(store, hooks),
    onHandled: hooks.onHandled,
  });
}

/**
 * The claim loop of `runOnceTracked`: claims (or uses the answer `first` of the claim made
 * ahead, already taken), then runs, returns the stored response, waits for a pending copy, or
 * refuses a conflict.
 */
async function claimAndRun(
  store: DedupStore,
  key: string,
  fingerprint: string,
  handler: DedupHandler,
  options: RunOnceOptions,
  hooks: RunHooks,
  first: ReturnType<AheadClaim["takeNow"]>,
): Promise<DedupOutcome> {
  const { leaseMs, ttlMs } = options;
  const owner = hooks.owner ?? options.owner;
  const signal = hooks.signal ?? options.signal;
  const { onClaimed, onHandled } = hooks;
  const complete = completeOf(store, hooks);
  let ahead = hooks.ahead;
  const maxWaitMs = options.maxWaitMs ?? leaseMs + 1000;
  const pollMaxMs = options.pollMaxMs ?? 200;
  let delay = options.pollMinMs ?? 5;
  // Durations in this process are measured on the monotonic clock: a step of the wall clock
  // neither ends the wait at once nor stretches it by the size of the step.
  const deadline = performance.now() + maxWaitMs;
  const timers = options.timers ?? monotonicLeaseTimers;
  const renewEveryMs = renewEveryOf(options);
  assertPositiveInteger(renewEveryMs, "renewEveryMs");
  for (;;) {
    if (signal?.aborted) throw abandonReason(signal);
    let claim: ClaimResult;
    let held: LeaseKeeper | undefined;
    const claimedAt = timers.now();
    // A claim made ahead answers for the first claim when it is final (claimed with its lease
    // still held, done, conflict); anything else (pending, an error) is claimed again now.
    const known = ahead === undefined ? undefined : first;
    const taken = known === "pending" ? await ahead!.take() : known;
    ahead = undefined;
    if (taken !== undefined) {
      claim = taken.claim;
      held = taken.held;
    } else {
      try {
        claim = await store.claim(
          key,
          owner === undefined ? { leaseMs, fingerprint } : { leaseMs, fingerprint, owner },
        );
      } catch (error) {
        throw toStoreError(error, "dedup claim");
      }
    }
    switch (claim.status) {
      case "done":
        return { response: claim.response, duplicate: true, stored: true };
      case "conflict":
        throw conflictError();
      case "claimed": {
        const lease = { leaseMs, renewEveryMs, claimedAt, timers };
        const claimed = { key, token: claim.token, fencingToken: claim.fencingToken };
        return runClaimed(store, claimed, handler, {
          ttlMs,
          lease,
          held,
          signal,
          onClaimed,
          complete,
          onHandled,
        });
      }
      case "pending": {
        const remaining = deadline - performance.now();
        if (options.waitForPending === false || remaining <= 0) {
          throw new AssuredError(
            "TIMEOUT",
            "an earlier copy of this message is still being handled; retry later.",
          );
        }
        hooks.onWait?.();
        await sleep(Math.min(delay, remaining), signal);
        delay = Math.min(delay * 2, pollMaxMs);
      }
    }
  }
}

/** How `runClaimed` runs a claimed key. */
interface ClaimedRunOptions {
  ttlMs: number;
  lease: AheadLease;
  /** The lease kept since a claim made ahead, if the key was claimed so. */
  held: LeaseKeeper | undefined;
  signal: AbortSignal | undefined;
  onClaimed: OnClaimed | undefined;
  complete: Complete;
  onHandled: (() => void) | undefined;
}

/**
 * Runs the handler of a claimed key under a renewed lease, then stores its response. A lost
 * lease or a given-up run rejects at once (the handler may still be running: its signal told
 * it to stop) and releases the claim; the response of such a run is never stored.
 */
function runClaimed(
  store: DedupStore,
  claimed: { key: string; token: string; fencingToken: number },
  handler: DedupHandler,
  options: ClaimedRunOptions,
): Promise<DedupOutcome> {
  return new Promise<DedupOutcome>((resolve, reject) => {
    new ClaimedRun(store, claimed, options, resolve, reject).start(handler);
  });
}

/**
 * One run of a claimed key (`runClaimed`), as one object per message instead of an async
 * function's chain of awaits: it is also the handler's `DedupRun` (its signal read from the
 * lease keeper when the handler asks: an AbortController per message is costly).
 */
class ClaimedRun implements DedupRun {
  readonly fencingToken: number;
  readonly #store: DedupStore;
  readonly #key: string;
  readonly #token: string;
  readonly #options: ClaimedRunOptions;
  readonly #resolve: (outcome: DedupOutcome) => void;
  readonly #reject: (error: unknown) => void;
  readonly #keeper: LeaseKeeper;
  /** Set once the handler's phase is over (answered, failed, or the lease lost first). */
  #handled = false;
  /** Set once the handler answered and its response is being written (renewals go on). */
  #storing = false;

  constructor(
    store: DedupStore,
    claimed: { key: string; token: string; fencingToken: number },
    options: ClaimedRunOptions,
    resolve: (outcome: DedupOutcome) => void,
    reject: (error: unknown) => void,
  ) {
    this.fencingToken = claimed.fencingToken;
    this.#store = store;
    this.#key = claimed.key;
    this.#token = claimed.token;
    this.#options = options;
    this.#resolve = resolve;
    this.#reject = reject;
    const { held } = options;
    if (held === undefined) {
      this.#keeper = holdLease(store, claimed.key, claimed.token, options.lease, this.#onLost);
    } else {
      this.#keeper = held;
      held.handOver(this.#onLost);
    }
  }

  get signal(): AbortSignal {
    return this.#keeper.signal;
  }

  start(handler: DedupHandler): void {
    const keeper = this.#keeper;
    const { signal } = this.#options;
    this.#options.onClaimed?.(keeper);
    // A claim answered after its lease already ended (a slow store) must not start the handler.
    if (!keeper.holds()) {
      this.#endHandling(keeper.lost);
      return;
    }
    if (signal?.aborted) {
      this.#giveUp();
      this.#endHandling(keeper.lost);
      return;
    }
    if (signal !== undefined) watchAbort(signal, this.#giveUp);
    let outcome: Promise<StoredResponse>;
    try {
      outcome = handler(this);
    } catch (error) {
      this.#failed(error);
      return;
    }
    Promise.resolve(outcome).then(this.#answered, this.#failed);
  }

  /** The lease is lost (taken over, not renewed, given up): the key is released, the run rejects. */
  readonly #onLost = (reason: AssuredError): void => {
    // Someone else may hold the key already: the release then answers false and changes nothing.
    // While the response is written, the write decides (a renewal answering false then usually
    // means it landed): nothing is released under it.
    if (!this.#storing) void this.#release();
    if (!this.#handled) this.#endHandling(reason);
  };

  readonly #giveUp = (): void => {
    this.#keeper.lose(abandonReason(this.#options.signal));
  };

  readonly #answered = (response: StoredResponse): void => {
    // The lease is still renewed while the response is written, for at most one more lease: a
    // write slower than the rest of the lease (a busy or restarting store) must not let a copy
    // waiting for this key take it over and run the handler a second time, and a write that
    // never answers must not hold the key for the life of the process (after that lease, a
    // copy may take the key over, as after a store failure).
    if (!this.#handlerSettled(true)) return;
    this.#storing = true;
    const keeper = this.#keeper;
    const { timers, leaseMs } = this.#options.lease;
    keeper.renewUntil(timers.now() + leaseMs);
    const written = () => keeper.stop();
    let storing: Promise<boolean>;
    try {
      storing = Promise.resolve(
        this.#options.complete(this.#key, this.#token, response, { ttlMs: this.#options.ttlMs }),
      );
    } catch (error) {
      // A store whose `complete` throws instead of rejecting: not stored, as a rejection.
      storing = Promise.reject(error);
    }
    // The handler ran; its caller gets the response even if it was not stored (a duplicate
    // may then run it again). Attached before `onHandled`, so renewals stop even if it throws.
    storing.then(
      (stored) => {
        written();
        this.#resolve({ response, duplicate: false, stored });
      },
      () => {
        written();
        this.#resolve({ response, duplicate: false, stored: false });
      },
    );
    try {
      this.#options.onHandled?.();
    } catch (error) {
      this.#reject(error);
    }
  };

  readonly #failed = (error: unknown): void => {
    if (!this.#handlerSettled()) return;
    // Not a final outcome: the key is given up (before the caller hears of it) so a retry can
    // run the handler.
    this.#release().then(() => this.#reject(error));
  };

  /**
   * The handler settled: its phase ends, and renewals stop unless `keepRenewing` (its response
   * is about to be written). False when the run was over already or its lease is lost (the run
   * then rejects with `LEASE_LOST`): its outcome is dropped.
   */
  #handlerSettled(keepRenewing = false): boolean {
    if (this.#handled) return false;
    const keeper = this.#keeper;
    const holds = keeper.holds();
    if (!keepRenewing || !holds) keeper.stop();
    this.#endHandling(keeper.lost);
    return holds;
  }

  /** The handler's phase is over; with `error`, the run rejects with it. */
  #endHandling(error: AssuredError | undefined): void {
    if (this.#handled) return;
    this.#handled = true;
    const { signal } = this.#options;
    if (signal !== undefined) unwatchAbort(signal, this.#giveUp);
    if (error !== undefined) this.#reject(error);
  }

  /** Releases the key; never rejects nor throws (a store that throws counts as released). */
  #release(): Promise<unknown> {
    return releaseQuietly(this.#store, this.#key, this.#token);
  }
}

/** `store.release`, its failure (rejected or thrown) ignored: the lease ends on its own. */
function releaseQuietly(store: DedupStore, key: string, token: string): Promise<unknown> {
  try {
    return Promise.resolve(store.release(key, token)).catch(() => undefined);
  } catch {
    return Promise.resolve();
  }
}

/** The error for one idempotency key reused with another message. */
export function conflictError(): AssuredError {
  return new AssuredError(
    "IDEMPOTENCY_CONFLICT",
    "this message id was already used for a different message; use a new id for each message.",
  );
}

/** Most turns of the event loop a dedup write waits while more keep coming (`GroupCommit.maxTurns`). */
const DEDUP_GROUP_TURNS = 32;
/** Most bytes of responses in one `completeMany` group (a larger response goes alone). */
const DEDUP_GROUP_BYTES = 4 * 1024 * 1024;

/**
 * Writes a `Deduplicator`'s claims (or responses) in groups through core's `GroupWriter` (the
 * publisher's adaptive group commit): a group goes to the store's batch method once a turn of
 * the event loop passed without a new request (while requests keep coming, after at most
 * `DEDUP_GROUP_TURNS` turns), with at most `MAX_DEDUP_BATCH` requests and `DEDUP_GROUP_BYTES`
 * of responses; one group at a time, in submission order. No timer: a lone request waits one
 * turn, a busy socket's or server's requests go together.
 */
function batchWriter<Request, Result>(
  write: (requests: Request[]) => Promise<BatchItemResult<Result>[]>,
  weightOf: (request: Request) => number,
): GroupWriter<Request, BatchItemResult<Result>> {
  return new GroupWriter({
    write,
    operation: "dedup batch",
    maxItems: MAX_DEDUP_BATCH,
    maxWeight: DEDUP_GROUP_BYTES,
    weightOf,
    maxTurns: DEDUP_GROUP_TURNS,
  });
}

/** A claim made ahead, as its answer left it: the claim and the lease kept since. */
type AheadAnswer = { claim: ClaimResult; held: LeaseKeeper | undefined };

/**
 * A key claimed ahead of its run (`Deduplicator.claimAhead`). Once claimed, its lease is renewed
 * from the claim on; `take()` hands the claim to the run, `discard()` gives it up. It hears its
 * answer from the claim group itself (`GroupReceiver`): no promise per claim unless a run waits
 * for an answer not known yet.
 */
export class AheadClaim implements GroupReceiver<BatchItemResult<ClaimResult>> {
  readonly key: string;
  readonly #store: DedupStore;
  readonly #lease: AheadLease | undefined;
  #discarded = false;
  #taken = false;
  #held: LeaseKeeper | undefined;
  #token: string | undefined;
  /** The answer once known (`undefined` inside: no usable answer, the run claims). */
  #known: { answer: AheadAnswer | undefined } | undefined;
  /** A run waiting in `take()` for the answer. */
  #waiter: ((answer: AheadAnswer | undefined) => void) | undefined;
  /** Called once, when the claim is taken or discarded (the `Deduplicator` forgets it). */
  readonly #onSettled: (() => void) | undefined;

  /**
   * `lease` undefined: a copy that claims nothing ahead (its run claims); otherwise the claim is
   * submitted by the caller with this object as its receiver.
   */
  constructor(
    store: DedupStore,
    key: string,
    lease: AheadLease | undefined,
    onSettled?: () => void,
  ) {
    this.key = key;
    this.#store = store;
    this.#lease = lease;
    this.#onSettled = onSettled;
    if (lease === undefined) this.#known = { answer: undefined };
  }

  /** The claim group's answer (called by the `Deduplicator`'s claim writer). */
  resolved(item: BatchItemResult<ClaimResult>): void {
    // A malformed result throws: the claim writer then calls `rejected` (`GroupWriter.submitTo`).
    this.#learn(item.status === "fulfilled" ? this.#answered(item.value) : undefined);
  }

  /** The claim group failed: the run claims again (called by the claim writer). */
  rejected(): void {
    this.#learn(undefined);
  }

  #learn(answer: AheadAnswer | undefined): void {
    if (this.#known !== undefined) return;
    this.#known = { answer };
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(answer);
  }

  #answered(claim: ClaimResult): AheadAnswer | undefined {
    if (claim.status !== "claimed") return { claim, held: undefined };
    this.#token = claim.token;
    if (this.#discarded) {
      this.#release();
      return undefined;
    }
    // Until a run takes it over, a lost lease only gives the key up.
    this.#held = holdLease(this.#store, this.key, claim.token, this.#lease!, () => this.#release());
    return { claim, held: this.#held };
  }

  /**
   * `take()` without waiting, when the claim's answer is already known (usually: claims made
   * ahead are answered before their message's turn); `pending` when it is not known yet.
   */
  takeNow(): AheadAnswer | undefined | "pending" {
    if (this.#taken || this.#discarded) return undefined;
    if (this.#known === undefined) return "pending";
    this.#taken = true;
    this.#onSettled?.();
    return usable(this.#known.answer);
  }

  /**
   * The claim for the run: its answer when final (claimed with the lease still held, done,
   * conflict), else undefined (pending, an error, a lost lease: the run claims again). Once.
   */
  async take(): Promise<AheadAnswer | undefined> {
    if (this.#taken || this.#discarded) return undefined;
    this.#taken = true;
    this.#onSettled?.();
    const known = this.#known;
    if (known !== undefined) return usable(known.answer);
    return usable(
      await new Promise<AheadAnswer | undefined>((resolve) => {
        this.#waiter = resolve;
      }),
    );
  }

  /** Gives the claim up unless a run took it: a key still held is released now. Idempotent. */
  discard(): void {
    if (this.#taken || this.#discarded) return;
    this.#discarded = true;
    this.#onSettled?.();
    if (this.#held !== undefined) this.#release();
  }

  #release(): void {
    this.#held?.stop();
    const token = this.#token;
    if (token === undefined) return;
    void releaseQuietly(this.#store, this.key, token);
  }
}

/** A claim made ahead as its run may use it: final (claimed with its lease held, done, conflict). */
function usable(answer: AheadAnswer | undefined): AheadAnswer | undefined {
  if (answer === undefined || answer.claim.status === "pending") return undefined;
  if (answer.held !== undefined && !answer.held.holds()) return undefined;
  return answer;
}

/** One run of a key in this process: its fingerprint, its outcome, its lease once claimed. */
interface InFlight {
  fingerprint: string;
  promise: Promise<DedupOutcome>;
  keeper: LeaseKeeper | undefined;
}

/**
 * `runOnce` with in-process sharing: concurrent runs of the same key in this process share one
 * promise instead of polling the store (a client that reconnected while its first copy is still
 * running waits on it directly). The in-flight table holds only running keys and is bounded by
 * `maxInFlight`; beyond it runs go straight to the store, which stays correct.
 *
 * A run in this process is joined while its lease holds: it is renewed while the handler runs
 * and its response is written, so a slow handler is neither taken over nor run twice. A run
 * whose lease was lost (taken over, or not renewed in time) is not joined: the duplicate goes
 * to the store.
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
  readonly #inFlight = new Map<string, InFlight>();
  /** Leases of every handler running in this process (in the table or beyond its bound). */
  readonly #leases = new Set<LeaseKeeper>();
  /**
   * Per key, the copies given a claim made ahead and not yet taken by a run or discarded: only
   * the first of them claims in the store.
   */
  readonly #aheadKeys = new Map<string, number>();
  /** Claims made ahead, written together (`claimMany`); only with a store that has batches. */
  readonly #claims: GroupWriter<ClaimRequest, BatchItemResult<ClaimResult>> | undefined;
  /** Responses of runs, written together (`completeMany`); only with a store that has batches. */
  readonly #completes: GroupWriter<CompleteRequest, BatchItemResult<boolean>> | undefined;
  readonly #groupedComplete: Complete = (key, token, response, options) =>
    new Promise<boolean>((resolve, reject) => {
      this.#completes!.submitTo(
        { key, token, response, options },
        {
          resolved: (item) =>
            item?.status === "fulfilled" ? resolve(item.value) : reject(item?.reason),
          rejected: reject,
        },
      );
    });

  constructor(
    store: DedupStore,
    options: RunOnceOptions & {
      maxInFlight?: number;
      /**
       * Clock of the leases of in-process runs (how long since a renewal succeeded). Default
       * the monotonic `performance.now()`, so a step of the wall clock (NTP, an operator, a VM
       * resume) neither makes a running handler look hung nor hides a hung one. Tests inject
       * the store's clock; `timers` (clock and timers together) takes precedence.
       */
      clock?: () => number;
    },
  ) {
    assertPositiveInteger(options.leaseMs, "leaseMs");
    assertPositiveInteger(options.ttlMs, "ttlMs");
    const { clock, maxInFlight, ...runOptions } = options;
    if (runOptions.timers === undefined && clock !== undefined) {
      runOptions.timers = { now: clock, after: monotonicLeaseTimers.after };
    }
    if (runOptions.renewEveryMs !== undefined) {
      assertPositiveInteger(runOptions.renewEveryMs, "renewEveryMs");
    }
    this.#store = store;
    this.#options = runOptions;
    this.#maxInFlight = maxInFlight ?? 10_000;
    assertPositiveInteger(this.#maxInFlight, "maxInFlight");
    if (typeof store.claimMany === "function" && typeof store.completeMany === "function") {
      this.#claims = batchWriter(
        (requests) => claimMany(store, requests),
        (request) => request.key.length,
      );
      this.#completes = batchWriter(
        (requests) => completeMany(store, requests),
        (request) => request.key.length + request.response.payload.byteLength,
      );
    }
  }

  /**
   * Whether the store writes batches (`claimMany` and `completeMany`): then `claimAhead` claims
   * and the responses of runs are written in groups (responses of runs settling while a group
   * is written go together in the next). Without them every claim and complete is a single
   * call, as before.
   */
  get batches(): boolean {
    return this.#claims !== undefined;
  }

  /**
   * Claims a key now, ahead of its run (a socket's queued messages: G10 keeps their handlers in
   * order, their claims need not wait). Claims made together go to the store in one
   * `claimMany`, one group at a time (those made while a group is written form the next). A claimed key's lease is renewed from
   * the claim on, so it holds while the message waits for its run; pass the result to `run`
   * (`options.ahead`), and `discard()` it if the message will not run (the socket dropped, the
   * message was refused): a key still held is released at once, so a resend elsewhere is not
   * blocked until the lease ends. Undefined when the store has no batches (`batches`).
   *
   * One claim per key in this process: while a copy of the key waits for its run (claimed
   * ahead, not taken or discarded yet) or runs, a later copy claims nothing ahead (its `take()`
   * answers undefined and its run claims or joins then), so an earlier copy never waits for a
   * claim made for a copy queued behind it.
   */
  claimAhead(key: string, fingerprint: string, owner?: DedupOwner): AheadClaim | undefined {
    if (this.#claims === undefined) return undefined;
    const copies = this.#aheadKeys.get(key) ?? 0;
    this.#aheadKeys.set(key, copies + 1);
    const forget = () => {
      const left = (this.#aheadKeys.get(key) ?? 1) - 1;
      if (left > 0) this.#aheadKeys.set(key, left);
      else this.#aheadKeys.delete(key);
    };
    // An earlier copy of this key is waiting for its run or running here: this copy claims
    // nothing now (its run claims, or joins that copy). Holding the key, it would make that
    // earlier copy wait for a claim queued behind it, and a copy sent again and again would
    // keep the key from it until the resends stop.
    if (copies > 0 || this.#inFlight.has(key)) {
      return new AheadClaim(this.#store, key, undefined, forget);
    }
    const { leaseMs } = this.#options;
    const timers = this.#options.timers ?? monotonicLeaseTimers;
    const renewEveryMs = renewEveryOf(this.#options);
    const options =
      owner === undefined ? { leaseMs, fingerprint } : { leaseMs, fingerprint, owner };
    const lease = { leaseMs, renewEveryMs, claimedAt: timers.now(), timers };
    const ahead = new AheadClaim(this.#store, key, lease, forget);
    this.#claims.submitTo({ key, options }, ahead);
    return ahead;
  }

  /** Number of keys currently running in this process. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Runs the handler once per key; see `runOnce`. `options.owner` is passed with the claim (the
   * owner's quota); give the same owner for a key every time. `options.signal` gives this call
   * up (see `RunOnceOptions.signal`); a call that joined a running copy only stops waiting.
   */
  run(
    key: string,
    fingerprint: string,
    handler: DedupHandler,
    options: {
      owner?: DedupOwner;
      signal?: AbortSignal;
      /**
       * The key's claim made ahead with `claimAhead`: its answer stands for the run's first
       * claim when final (claimed with the lease still held, done, conflict); a copy running
       * in this process is joined as usual and the claim made ahead discarded by the caller.
       */
      ahead?: AheadClaim | undefined;
      /**
       * Called when the run starts waiting for another copy of its key (joined in this process,
       * or pending in the store): the caller should give up what it claimed ahead for later
       * runs, so two callers waiting for each other's claims cannot stall until `maxWaitMs`.
       */
      onWait?: () => void;
      /**
       * Called once the handler's response is known and its store write issued, before it
       * resolved (with a store that has `completeMany`, written in a group with others). A
       * caller that starts its next run then overlaps it with this response's write, and a
       * crash may then re-run both (the Assured server does so for at most
       * `limits.maxUnstoredResponses` messages per socket, and replies once stored).
       */
      onHandled?: () => void;
    } = {},
  ): Promise<DedupOutcome> {
    const running = this.#inFlight.get(key);
    // A copy still claiming is not joined by a run holding a claim made ahead: that copy may be
    // waiting for this very claim.
    const claiming = running !== undefined && running.keeper === undefined;
    if (
      running !== undefined &&
      (claiming ? options.ahead === undefined : running.keeper!.holds())
    ) {
      if (running.fingerprint !== fingerprint) return Promise.reject(conflictError());
      // A copy running its handler waits for no claim; one still claiming may wait for ours.
      if (claiming) options.onWait?.();
      // If the joined run loses its lease, this copy goes to the store like any duplicate.
      return this.#join(running.promise, options.signal).catch((error: unknown) => {
        if (!isAssuredError(error, "LEASE_LOST")) throw error;
        return this.run(key, fingerprint, handler, options);
      });
    }
    // A run whose lease is lost is presumed dead, like a crashed node's: its claim may be taken
    // over through the store (G9) instead of every duplicate waiting for it.
    if (running !== undefined) this.#inFlight.delete(key);
    const { owner, signal } = options;
    const tracked = this.#inFlight.size < this.#maxInFlight;
    const entry: InFlight = { fingerprint, promise: undefined as never, keeper: undefined };
    const onClaimed = (keeper: LeaseKeeper) => {
      entry.keeper = keeper;
      this.#leases.add(keeper);
    };
    const promise = runOnceTracked(this.#store, key, fingerprint, handler, this.#options, {
      owner,
      signal,
      onClaimed,
      ahead: options.ahead,
      complete: this.#completes === undefined ? undefined : this.#groupedComplete,
      onHandled: options.onHandled,
      onWait: options.onWait,
    });
    entry.promise = promise;
    const forget = () => {
      if (entry.keeper !== undefined) this.#leases.delete(entry.keeper);
      if (this.#inFlight.get(key) === entry) this.#inFlight.delete(key);
    };
    promise.then(forget, forget);
    if (tracked) this.#inFlight.set(key, entry);
    return promise;
  }

  /**
   * Aborts the signal of every handler running in this process with `reason` (server
   * shutdown). Their runs go on: leases are still renewed until the handlers settle (and their
   * responses are written), a handler that returns anyway has its response stored, one that
   * throws releases its claim.
   */
  abortRunning(reason: AssuredError): void {
    for (const keeper of this.#leases) keeper.abort(reason);
  }

  /** Waits for a running copy, at most `maxWaitMs` (a hung handler must not block forever). */
  #join(running: Promise<DedupOutcome>, signal: AbortSignal | undefined): Promise<DedupOutcome> {
    const maxWaitMs = this.#options.maxWaitMs ?? this.#options.leaseMs + 1000;
    return new Promise<DedupOutcome>((resolve, reject) => {
      const stop = (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      };
      const onAbort = () => stop(abandonReason(signal));
      const timer = setTimeout(
        () =>
          stop(
            new AssuredError(
              "TIMEOUT",
              "an earlier copy of this message is still being handled; retry later.",
            ),
          ),
        maxWaitMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      running.then((outcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve({ ...outcome, duplicate: true });
      }, stop);
    });
  }
}
