import { AssuredError, toStoreError } from "./errors.js";
import { GroupCommit } from "./group-commit.js";

/** How a `GroupWriter` groups and writes requests. */
export interface GroupWriterOptions<Request, Result, Key = undefined> {
  /**
   * Writes one group of requests of one key, in submission order, and returns one result per
   * request, in the same order; synchronous or asynchronous. A key's next group waits until its
   * write settles; groups of other keys may be written meanwhile. If it throws or rejects, every
   * request of the group rejects with `toStoreError(error, operation)`.
   */
  write(requests: Request[], key: Key): Result[] | PromiseLike<Result[]>;
  /** What a write does, for error messages (e.g. `"append"`). */
  operation: string;
  /** The key of a request: requests of one key are written together (default: all one key). */
  keyOf?: (request: Request) => Key;
  /** Most requests per group. */
  maxItems: number;
  /** Most weight (bytes, entries…) per group; a heavier single request goes alone (default: no bound). */
  maxWeight?: number;
  /** A request's weight (default 1); read once, when it is submitted. */
  weightOf?: (request: Request) => number;
  /**
   * Most turns of the event loop the oldest request of a key waits while more keep coming
   * (`GroupCommit`); 0 writes a key's requests at the end of the turn its first one came in.
   */
  maxTurns: number;
  /** Runs `callback` once after the current turn (default `setImmediate`; `queueMicrotask` ends a turn with the current task). */
  afterTurn?: (callback: () => void) => void;
  /**
   * Backpressure: the most weight submitted and not settled yet (queued or being written), and
   * the option that sets it (named in the error). A request beyond it rejects with
   * `LIMIT_EXCEEDED` at once. Default: no bound.
   */
  maxWaiting?: { weight: number; option: string };
}

/** Who hears a request's outcome (`submitTo`): its result, or why its group failed. */
export interface GroupReceiver<Result> {
  resolved(result: Result): void;
  rejected(error: unknown): void;
}

interface Pending<Request, Result> {
  request: Request;
  weight: number;
  receiver: GroupReceiver<Result>;
}

/**
 * Group commit for request/response writes (store appends, dedup batches): `submit(request)`
 * resolves with that request's own result once the group it joined is written. Grouping is
 * core's adaptive `GroupCommit` (also the publisher's): per key, in submission order, at most
 * `maxItems` requests and `maxWeight` weight per group, one write per key in flight, so a
 * key's writes commit in submission order and never race each other.
 *
 * @example
 * const appends = new GroupWriter({
 *   write: (requests) => db.appendAll(requests), // one transaction, one result per request
 *   operation: "append",
 *   maxItems: 1_000,
 *   maxTurns: 0,
 * });
 * const result = await appends.submit({ stream, entries });
 */
export class GroupWriter<Request, Result, Key = undefined> {
  readonly #write: GroupWriterOptions<Request, Result, Key>["write"];
  readonly #operation: string;
  readonly #keyOf: (request: Request) => Key;
  readonly #weightOf: (request: Request) => number;
  readonly #maxWaiting: { weight: number; option: string } | undefined;
  readonly #commit: GroupCommit<Key, Pending<Request, Result>>;
  /** Requests submitted and not settled yet, and their weight. */
  #waitingCount = 0;
  #waitingWeight = 0;
  #idle: (() => void)[] = [];

  /** @throws AssuredError `INVALID_ARGUMENT` for a bound that is not a positive integer (`maxTurns`: non-negative). */
  constructor(options: GroupWriterOptions<Request, Result, Key>) {
    this.#write = options.write;
    this.#operation = options.operation;
    this.#keyOf = options.keyOf ?? (() => undefined as Key);
    this.#weightOf = options.weightOf ?? (() => 1);
    this.#maxWaiting = options.maxWaiting;
    this.#commit = new GroupCommit({
      flush: (key, group) => this.#flush(key, group),
      maxItems: options.maxItems,
      maxBytes: options.maxWeight ?? Number.MAX_SAFE_INTEGER,
      sizeOf: (pending) => pending.weight,
      maxTurns: options.maxTurns,
      ...(options.afterTurn === undefined ? {} : { afterTurn: options.afterTurn }),
    });
  }

  /**
   * Queues `request` for its key's next group; resolves with its result once written.
   * @throws (rejects) AssuredError `LIMIT_EXCEEDED` beyond `maxWaiting`; the store error of a failed write.
   */
  submit(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.submitTo(request, { resolved: resolve, rejected: reject });
    });
  }

  /**
   * `submit` without a promise: `receiver` hears the request's result or error once its group
   * was written (`rejected` at once, before this returns, beyond `maxWaiting`). For callers that
   * submit a request per message and keep their own state. A `resolved` that throws is followed
   * by `rejected` with what it threw; the rest of the group is settled either way.
   */
  submitTo(request: Request, receiver: GroupReceiver<Result>): void {
    const weight = this.#weightOf(request);
    const limit = this.#maxWaiting;
    if (limit !== undefined && this.#waitingWeight + weight > limit.weight) {
      receiver.rejected(
        new AssuredError(
          "LIMIT_EXCEEDED",
          `the ${this.#operation} would take what waits to be written beyond ${limit.option} ` +
            `(${limit.weight}); await earlier ${this.#operation} calls before issuing more.`,
          { details: { [limit.option]: limit.weight, waiting: this.#waitingWeight } },
        ),
      );
      return;
    }
    this.#waitingCount++;
    this.#waitingWeight += weight;
    this.#commit.add(this.#keyOf(request), { request, weight, receiver });
  }

  /** Weight submitted and not settled yet (queued or being written). */
  get waiting(): number {
    return this.#waitingWeight;
  }

  /**
   * Writes every queued request now (a key whose write is in flight: right after it; a
   * synchronous `write` has run when this returns) and resolves once no request is waiting,
   * including those submitted meanwhile.
   */
  flush(): Promise<void> {
    this.#commit.flushAll();
    return this.#whenIdle();
  }

  /**
   * Rejects every request not handed to `write` yet with `reason` (e.g. `STORE_CLOSED`) and
   * resolves once the writes in flight have settled.
   */
  abandon(reason: unknown): Promise<void> {
    for (const pending of this.#commit.clear()) this.#settle(pending, false, reason);
    return this.#whenIdle();
  }

  #whenIdle(): Promise<void> {
    if (this.#waitingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #flush(key: Key, group: Pending<Request, Result>[]): void | Promise<void> {
    let written: Result[] | PromiseLike<Result[]>;
    try {
      written = this.#write(
        group.map((pending) => pending.request),
        key,
      );
    } catch (error) {
      this.#fail(group, error);
      return;
    }
    if (!Array.isArray(written)) {
      return Promise.resolve(written).then(
        (results) => this.#deliver(group, results),
        (error: unknown) => this.#fail(group, error),
      );
    }
    this.#deliver(group, written);
  }

  #deliver(group: Pending<Request, Result>[], results: Result[]): void {
    if (!Array.isArray(results) || results.length < group.length) {
      this.#fail(
        group,
        new AssuredError(
          "STORE_CORRUPT",
          `a grouped ${this.#operation} returned ${Array.isArray(results) ? results.length : "no"} results for ${group.length} requests.`,
        ),
      );
      return;
    }
    for (let i = 0; i < group.length; i++) this.#settle(group[i]!, true, results[i]);
  }

  #fail(group: Pending<Request, Result>[], error: unknown): void {
    const failure = toStoreError(error, this.#operation);
    for (const pending of group) this.#settle(pending, false, failure);
  }

  /** Settles one request: resolved with `value` (its result) when `ok`, else rejected with it. */
  #settle(pending: Pending<Request, Result>, ok: boolean, value: unknown): void {
    this.#waitingCount--;
    this.#waitingWeight -= pending.weight;
    // A receiver that throws must not keep the rest of its group unsettled: one whose
    // `resolved` throws is rejected with that error (as a promise's reaction would be), and
    // what `rejected` throws is dropped.
    try {
      if (ok) pending.receiver.resolved(value as Result);
      else pending.receiver.rejected(value);
    } catch (error) {
      if (ok) {
        try {
          pending.receiver.rejected(error);
        } catch {
          // Nothing left to tell it.
        }
      }
    }
    if (this.#waitingCount === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }
}
