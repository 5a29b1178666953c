import type { DedupStore } from "./dedup-store.js";
import { AssuredError } from "./errors.js";

/**
 * Time for lease renewal: a monotonic clock and one-shot timers. The default is
 * `performance.now()` and `setTimeout`; tests inject a fake to drive renewals step by step.
 */
export interface LeaseTimers {
  /** Milliseconds on a monotonic clock (a step of the wall clock must not move it). */
  now(): number;
  /** Calls `callback` once after `ms`; returns a function that cancels the call. */
  after(ms: number, callback: () => void): () => void;
}

/** `performance.now()` and unref'd `setTimeout`: the timers of a real process. */
export const monotonicLeaseTimers: LeaseTimers = {
  now: () => performance.now(),
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    (timer as { unref?: () => void }).unref?.();
    return () => clearTimeout(timer);
  },
};

/** Options of `LeaseKeeper`. */
export interface LeaseKeeperOptions {
  /** The lease each renewal asks for. */
  leaseMs: number;
  /** Time between renewals (the `Deduplicator` uses `leaseMs / 3`). */
  renewEveryMs: number;
  /** When (on `timers`) the claim was requested: its lease ends at the latest `leaseMs` later. */
  claimedAt: number;
  /** The clock and timers of the renewals. */
  timers: LeaseTimers;
  /** Called once when the lease is lost (after the signal was aborted). */
  onLost?: (reason: AssuredError) => void;
}

/** The `LEASE_LOST` error: what a run's signal is aborted with when its lease is gone. */
export function leaseLostError(why: string): AssuredError {
  return new AssuredError(
    "LEASE_LOST",
    `this run lost its dedup lease (${why}); another run may handle the message, so this one must not write.`,
  );
}

/**
 * Keeps one claim's lease alive while its handler runs and its response is written (DESIGN.md
 * §8, fenced leases): renews it
 * every `renewEveryMs` with `DedupStore.renew`. The lease is lost when a renewal answers false
 * (taken over, expired) or when no renewal succeeded before the lease would have ended, counted
 * on `timers` from the start of the last successful request (a store that fails or never
 * answers). A lost lease aborts `signal` with `LEASE_LOST` and is final. `stop()` ends the
 * renewals (the handler threw, or its response was written); `abort()` aborts the signal only (a shutdown asks the handler
 * to stop while its lease is kept until it settles).
 */
export class LeaseKeeper {
  readonly #store: DedupStore;
  readonly #key: string;
  readonly #token: string;
  readonly #options: LeaseKeeperOptions;
  /** Created when the signal is first read (most handlers never read it). */
  #controller: AbortController | undefined;
  /** Why the signal is (or will be, once created) aborted. */
  #aborted: { reason: AssuredError } | undefined;
  #leaseEndsAt: number;
  #renewing = false;
  #cancel: (() => void) | undefined;
  #stopped = false;
  /** When (on `timers`) renewals stop of their own accord (`renewUntil`); none by default. */
  #renewUntil = Number.POSITIVE_INFINITY;
  #lost: AssuredError | undefined;
  /** Who hears the loss (`options.onLost`, replaced by `handOver`). */
  #onLost: ((reason: AssuredError) => void) | undefined;

  constructor(store: DedupStore, key: string, token: string, options: LeaseKeeperOptions) {
    this.#store = store;
    this.#key = key;
    this.#token = token;
    this.#options = options;
    this.#onLost = options.onLost;
    this.#leaseEndsAt = options.claimedAt + options.leaseMs;
    this.#schedule();
  }

  /** Aborted when the lease is lost (`LEASE_LOST`) or by `abort(reason)`. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted !== undefined) this.#controller.abort(this.#aborted.reason);
    }
    return this.#controller.signal;
  }

  /** Why the lease was lost, once it was. */
  get lost(): AssuredError | undefined {
    return this.#lost;
  }

  /**
   * True while the lease holds as far as this process knows: not lost and, on `timers`, before
   * its end (a late timer must not let a run outlive its lease: the check declares it lost).
   */
  holds(): boolean {
    if (this.#lost !== undefined) return false;
    if (!this.#stopped && this.#options.timers.now() >= this.#leaseEndsAt) {
      this.lose(leaseLostError("no renewal succeeded before the lease ended"));
    }
    return this.#lost === undefined;
  }

  /**
   * Renews until `at` (on `timers`) at the latest, then stops as `stop()` would: the lease then
   * ends `leaseMs` after the last renewal. No timer of its own: checked at each renewal's turn.
   */
  renewUntil(at: number): void {
    this.#renewUntil = Math.min(this.#renewUntil, at);
  }

  /** Stops renewing (the handler threw, or its response was written). */
  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** Gives the lease up: aborts the signal with `reason`, stops renewing, calls `onLost`. */
  lose(reason: AssuredError): void {
    if (this.#lost !== undefined || this.#stopped) return;
    this.#lost = reason;
    this.stop();
    this.abort(reason);
    this.#onLost?.(reason);
  }

  /**
   * Replaces who is told when the lease is lost (instead of `options.onLost`): a claim made
   * ahead of its run hands its lease over to the run that takes it.
   */
  handOver(onLost: (reason: AssuredError) => void): void {
    this.#onLost = onLost;
  }

  /** Aborts the handler's signal without giving the lease up (server shutdown). */
  abort(reason: AssuredError): void {
    if (this.#aborted !== undefined) return;
    this.#aborted = { reason };
    this.#controller?.abort(reason);
  }

  #schedule(): void {
    const { timers, renewEveryMs } = this.#options;
    const untilEnd = this.#leaseEndsAt - timers.now();
    this.#cancel = timers.after(Math.max(0, Math.min(renewEveryMs, untilEnd)), () => this.#tick());
  }

  #tick(): void {
    this.#cancel = undefined;
    if (this.#stopped || !this.holds()) return;
    if (this.#options.timers.now() >= this.#renewUntil) {
      this.stop();
      return;
    }
    if (!this.#renewing) void this.#renew();
    this.#schedule();
  }

  async #renew(): Promise<void> {
    const { timers, leaseMs } = this.#options;
    this.#renewing = true;
    const requestedAt = timers.now();
    let renewed: boolean;
    try {
      renewed = await this.#store.renew(this.#key, this.#token, leaseMs);
    } catch {
      // The store failed: the next tick tries again, until the lease would have ended.
      return;
    } finally {
      this.#renewing = false;
    }
    if (this.#stopped) return;
    if (!renewed) this.lose(leaseLostError("the store no longer holds it for this run"));
    else this.#leaseEndsAt = Math.max(this.#leaseEndsAt, requestedAt + leaseMs);
  }
}
