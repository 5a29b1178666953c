import { AssuredError } from "./errors.js";

/**
 * A store server's clock, as this process reads it: once (Redis `TIME`, MongoDB `hello`'s
 * `localTime`), then carried forward on this process's monotonic clock (`performance.now()`),
 * read again every `refreshMs`. Dedup leases and TTLs are compared across every node that shares
 * the store, so stores that have a clock judge them by it, not by each node's wall clock: a node
 * whose wall clock is stepped (NTP, an operator, a VM resume) or skewed then neither takes over a
 * lease another node still holds nor holds its own past its end (DESIGN.md §8, "lease times come
 * from the store's clock where it has one").
 *
 * The error is half a round trip at the last read plus the drift of the monotonic clock since
 * (parts per million); a step of the server's own clock is followed within `refreshMs`.
 *
 * @example
 * const clock = new ServerClock(async () => (await admin.command({ hello: 1 })).localTime.getTime());
 * const now = await clock.now();
 */
export class ServerClock {
  readonly #time: () => Promise<number>;
  readonly #refreshMs: number;
  readonly #monotonic: () => number;
  #anchor: { server: number; at: number } | undefined;
  #reading: Promise<void> | undefined;

  /**
   * `time` reads the server's clock in ms; `monotonic` is this process's monotonic clock
   * (injected in tests).
   */
  constructor(
    time: () => Promise<number>,
    options: { refreshMs?: number; monotonic?: () => number } = {},
  ) {
    this.#time = time;
    this.#refreshMs = options.refreshMs ?? 10_000;
    this.#monotonic = options.monotonic ?? (() => performance.now());
  }

  /**
   * The server's time now, in whole ms. The first call waits for a read (and rejects with its
   * error); later ones answer at once and start a new read in the background when due.
   */
  async now(): Promise<number> {
    if (this.#anchor === undefined) await this.#read();
    return this.current();
  }

  /**
   * The server's time now, in whole ms, without waiting: for code that needs a synchronous
   * clock once `now()` has answered. `STORE_UNAVAILABLE` before the first read.
   */
  current(): number {
    const anchor = this.#anchor;
    if (anchor === undefined) {
      throw new AssuredError("STORE_UNAVAILABLE", "the store's clock has not been read yet.");
    }
    const elapsed = this.#monotonic() - anchor.at;
    if (elapsed >= this.#refreshMs) void this.#read().catch(() => undefined);
    return Math.floor(anchor.server + elapsed);
  }

  #read(): Promise<void> {
    this.#reading ??= (async () => {
      const sent = this.#monotonic();
      const server = await this.#time();
      const received = this.#monotonic();
      // The server read its clock somewhere in the round trip: assume the middle.
      this.#anchor = { server: server + (received - sent) / 2, at: received };
    })().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }
}
