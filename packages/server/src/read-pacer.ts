/** How long one turn of the event loop may spend starting page reads (and sending pages) before the rest wait. */
export const READ_SLICE_MS = 10;

/**
 * Spreads page reads (catch-up and repair fetches, history) over turns of the event loop.
 * Stores that read synchronously (memory, SQLite) do all of a read's work when it starts, and a
 * reconnect storm brings a fetch from every client in the same turn: read one after another,
 * a thousand pages stalled the loop for seconds (handshakes, live events and other sockets
 * waiting behind them). A read starts at once while the turn's slice (`sliceMs` from the first
 * read of the turn) has time left; later ones wait in order and start in the next turns, one
 * after another while the new slice has time left, and always at least one per turn, so reads
 * keep moving whatever else fills the turn. Reads that only wait for I/O (Redis, PostgreSQL,
 * MongoDB) spend little of the slice, so they rarely wait. Page sends take turns from the same
 * pacer (`SharedReads.turn`): one shared read may answer a thousand sockets at once.
 */
export class ReadPacer {
  /** `performance.now()` at the start of the current slice; -1 when no read started this turn. */
  #sliceStart = -1;
  readonly #waiting: (() => void)[] = [];
  #scheduled = false;

  constructor(private readonly sliceMs = READ_SLICE_MS) {}

  /** Reads waiting for a later turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Undefined when a read may start now; otherwise a promise that resolves when it may
   * (in order with the others waiting). Never rejects.
   */
  turn(): Promise<void> | undefined {
    const now = performance.now();
    if (this.#waiting.length === 0) {
      if (this.#sliceStart < 0) {
        this.#sliceStart = now;
        this.#schedule();
        return undefined;
      }
      if (now - this.#sliceStart < this.sliceMs) return undefined;
    }
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#nextTurn);
  }

  /** A new turn: a new slice for the waiting reads, or none when nobody waits. */
  readonly #nextTurn = (): void => {
    this.#scheduled = false;
    if (this.#waiting.length === 0) {
      this.#sliceStart = -1;
      return;
    }
    this.#sliceStart = performance.now();
    this.#schedule(); // the slice ends with this turn
    this.#release();
  };

  /**
   * Lets the first waiting read go; once its synchronous start ran, the next goes while the
   * slice has time left. The check waits for the microtasks the start queued and then for the
   * ticks queued among them (`process.nextTick` after a microtask): work that a middleware's
   * `next()` hands to a later microtask (Engine.IO's handshake) or to a tick (Socket.IO's
   * namespace connect) is counted in the slice, not only the waiter's own continuation.
   */
  readonly #release = (): void => {
    const go = this.#waiting.shift();
    if (go === undefined) return;
    go();
    queueMicrotask(this.#afterStart);
  };

  readonly #afterStart = (): void => {
    process.nextTick(this.#afterOne);
  };

  readonly #afterOne = (): void => {
    if (this.#waiting.length > 0 && performance.now() - this.#sliceStart < this.sliceMs) {
      this.#release();
    }
  };
}
