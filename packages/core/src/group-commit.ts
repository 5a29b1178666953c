import { AssuredError } from "./errors.js";
import { assertPositiveInteger, describe } from "./validate.js";

/**
 * Adaptive group commit (DESIGN §8 "Frames are cheap"): items added under a key are handed to
 * `flush` in groups, so a burst of publishes costs one store write and one frame instead of one
 * each, without a fixed delay:
 *
 * - a key's pending items are flushed at the end of the first turn of the event loop in which
 *   no item was added to it (a lone item waits one idle turn);
 * - while items keep arriving every turn, the oldest waits at most `maxTurns` turns (0: no
 *   waiting, a key's items go at the end of the turn its first pending item was added in);
 * - a group holds at most `maxItems` items and `maxBytes` bytes (`sizeOf`; a single larger item
 *   travels alone); a full group is flushed at the end of its turn;
 * - one flush per key is in flight at a time (a key's groups are flushed in add order); items
 *   that became due meanwhile are flushed as soon as it settles.
 *
 * The scheduler is injected (`afterTurn`), so tests drive turns by hand. A flush that throws or
 * rejects is reported to `onError` and the next group goes on: settling each item (resolving or
 * rejecting its caller) is the flush function's job.
 */
export interface GroupCommitOptions<K, T> {
  /** Writes one group of `key`, in add order; the key's next group waits until it settles. */
  flush(key: K, items: T[]): void | PromiseLike<void>;
  /** Most items per group. */
  maxItems: number;
  /** Most bytes per group (the first item always fits). */
  maxBytes: number;
  /** The bytes an item counts for `maxBytes`. */
  sizeOf(item: T): number;
  /** Most turns the oldest pending item of a key waits while items keep arriving (0 or more). */
  maxTurns: number;
  /** Runs `callback` once after the current turn (default: `setImmediate`, else `setTimeout(0)`). */
  afterTurn?: (callback: () => void) => void;
  /** A flush that threw or rejected (default: ignored). */
  onError?: (error: unknown, key: K) => void;
}

interface KeyState<T> {
  items: T[];
  /** Bytes of `items`. */
  bytes: number;
  /** An item was added since the last turn ended. */
  fresh: boolean;
  /** Turns ended since the oldest pending item was added. */
  age: number;
  /** A flush of this key is in flight. */
  flushing: boolean;
  /** The pending items go as soon as the flush in flight settles. */
  due: boolean;
}

const defaultAfterTurn = (callback: () => void): void => {
  if (typeof setImmediate === "function") setImmediate(callback);
  else setTimeout(callback, 0);
};

/** Groups items per key and flushes them adaptively; see `GroupCommitOptions`. */
export class GroupCommit<K, T> {
  readonly #flush: GroupCommitOptions<K, T>["flush"];
  readonly #maxItems: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (item: T) => number;
  readonly #maxTurns: number;
  readonly #afterTurn: (callback: () => void) => void;
  readonly #onError: (error: unknown, key: K) => void;
  readonly #keys = new Map<K, KeyState<T>>();
  /** Keys with pending items and no flush in flight: they wait for the end of a turn. */
  readonly #waiting = new Set<K>();
  #turnScheduled = false;
  readonly #endTurn = () => this.#turnEnded();

  /**
   * @throws AssuredError `INVALID_ARGUMENT` for a `maxItems` or `maxBytes` that is not a positive
   * integer, or a `maxTurns` that is not a non-negative integer.
   */
  constructor(options: GroupCommitOptions<K, T>) {
    assertPositiveInteger(options.maxItems, "maxItems");
    assertPositiveInteger(options.maxBytes, "maxBytes");
    const { maxTurns } = options;
    if (typeof maxTurns !== "number" || !Number.isSafeInteger(maxTurns) || maxTurns < 0) {
      throw new AssuredError(
        "INVALID_ARGUMENT",
        `maxTurns must be a non-negative integer, got ${describe(maxTurns)}.`,
      );
    }
    this.#flush = options.flush;
    this.#maxItems = options.maxItems;
    this.#maxBytes = options.maxBytes;
    this.#sizeOf = options.sizeOf;
    this.#maxTurns = options.maxTurns;
    this.#afterTurn = options.afterTurn ?? defaultAfterTurn;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Queues `item` under `key`; it is flushed with its key's group (see the class notes). */
  add(key: K, item: T): void {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = { items: [], bytes: 0, fresh: false, age: 0, flushing: false, due: false };
      this.#keys.set(key, state);
    }
    state.items.push(item);
    state.bytes += this.#sizeOf(item);
    state.fresh = true;
    if (state.due) return; // flushed as soon as the flush in flight settles
    this.#waiting.add(key);
    this.#scheduleTurn();
  }

  /**
   * Hands every key's pending items to `flush` now, without waiting for the end of the turn (a
   * key with a flush in flight: as soon as it settles). A synchronous `flush` has run when this
   * returns.
   */
  flushAll(): void {
    for (const [key, state] of this.#keys) {
      if (state.items.length === 0) continue;
      this.#waiting.delete(key);
      if (state.flushing) state.due = true;
      else this.#run(key, state);
    }
  }

  /** Removes every item not yet handed to `flush` and returns them (each key's in add order). */
  clear(): T[] {
    const removed: T[] = [];
    for (const [key, state] of this.#keys) {
      removed.push(...state.items.splice(0));
      state.bytes = 0;
      state.due = false;
      if (!state.flushing) this.#forget(key, state);
    }
    this.#waiting.clear();
    return removed;
  }

  /** Items added and not yet handed to `flush`. */
  get pending(): number {
    let count = 0;
    for (const state of this.#keys.values()) count += state.items.length;
    return count;
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    this.#afterTurn(this.#endTurn);
  }

  #turnEnded(): void {
    this.#turnScheduled = false;
    for (const key of this.#waiting) {
      const state = this.#keys.get(key);
      if (state === undefined || state.items.length === 0) {
        this.#waiting.delete(key);
        continue;
      }
      if (state.fresh && state.age < this.#maxTurns && !this.#full(state)) {
        // Items still arrive: wait another turn (bounded by maxTurns).
        state.fresh = false;
        state.age++;
        continue;
      }
      this.#waiting.delete(key);
      if (state.flushing) state.due = true;
      else this.#run(key, state);
    }
    if (this.#waiting.size > 0) this.#scheduleTurn();
  }

  #full(state: KeyState<T>): boolean {
    return state.items.length >= this.#maxItems || state.bytes >= this.#maxBytes;
  }

  /** Flushes `key`'s groups, one at a time, until none is pending or one is in flight. */
  #run(key: K, state: KeyState<T>): void {
    while (state.items.length > 0) {
      const group = this.#take(state);
      let result: void | PromiseLike<void>;
      // Items added during a synchronous flush join this loop.
      state.flushing = true;
      try {
        result = this.#flush(key, group);
      } catch (error) {
        this.#report(error, key);
        continue;
      } finally {
        state.flushing = false;
      }
      if (result !== undefined && typeof result?.then === "function") {
        state.flushing = true;
        result.then(
          () => this.#settled(key, state),
          (error: unknown) => {
            this.#report(error, key);
            this.#settled(key, state);
          },
        );
        return;
      }
    }
    this.#forget(key, state);
  }

  /** A flush in flight settled: the next group goes now if it is due, else waits for its turn. */
  #settled(key: K, state: KeyState<T>): void {
    state.flushing = false;
    if (state.items.length === 0) {
      this.#forget(key, state);
    } else if (state.due || this.#full(state)) {
      this.#waiting.delete(key);
      this.#run(key, state);
    } else {
      this.#waiting.add(key);
      this.#scheduleTurn();
    }
  }

  #forget(key: K, state: KeyState<T>): void {
    this.#waiting.delete(key);
    if (this.#keys.get(key) === state) this.#keys.delete(key);
  }

  /** The oldest items of `state` that fit one group (at least one). */
  #take(state: KeyState<T>): T[] {
    let count = 0;
    let bytes = 0;
    for (const item of state.items) {
      if (count === this.#maxItems) break;
      const size = this.#sizeOf(item);
      if (count > 0 && bytes + size > this.#maxBytes) break;
      bytes += size;
      count++;
    }
    state.bytes -= bytes;
    state.age = 0;
    state.fresh = false;
    // What is left over (beyond a full group) goes right after this group.
    state.due = count < state.items.length;
    return state.items.splice(0, count);
  }

  #report(error: unknown, key: K): void {
    try {
      this.#onError(error, key);
    } catch {
      // A throwing reporter must not stop the flushes.
    }
  }
}
