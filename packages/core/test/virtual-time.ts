import type { LeaseTimers } from "../src/protocol-entry.js";

interface Scheduled {
  at: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

/** Lets every pending promise callback run (nothing here waits on real time or I/O). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A virtual clock with one-shot timers, for lease renewal tests: nothing happens until `run`
 * moves time forward, instant by instant, letting promises settle after every timer. The same
 * clock can be given to `MemoryDedupStore` (store clock) and as `LeaseTimers` (process clock).
 */
export class VirtualTime {
  now = 0;
  #seq = 0;
  #queue: Scheduled[] = [];

  /** The clock, for `MemoryDedupStore({ clock })`. */
  readonly clock = () => this.now;

  /** `LeaseTimers` on this clock. */
  readonly timers: LeaseTimers = {
    now: () => this.now,
    after: (ms, callback) => {
      const entry: Scheduled = { at: this.now + ms, seq: this.#seq++, callback, cancelled: false };
      this.#queue.push(entry);
      return () => {
        entry.cancelled = true;
      };
    },
  };

  /** Resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.after(ms, resolve));
  }

  /**
   * Runs timers in time order (FIFO within an instant) until none is left or `until` is passed;
   * `afterInstant` is called once every timer of an instant ran and promises settled.
   */
  async run(until: number, afterInstant: (now: number) => void = () => undefined): Promise<void> {
    await settle();
    for (;;) {
      this.#queue = this.#queue.filter((entry) => !entry.cancelled);
      if (this.#queue.length === 0) return;
      const at = Math.min(...this.#queue.map((entry) => entry.at));
      if (at > until) return;
      this.now = Math.max(this.now, at);
      for (;;) {
        const due = this.#queue
          .filter((entry) => !entry.cancelled && entry.at <= this.now)
          .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
        if (due === undefined) break;
        due.cancelled = true;
        due.callback();
        await settle();
      }
      afterInstant(this.now);
    }
  }
}
