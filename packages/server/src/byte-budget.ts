import { AssuredError } from "@assured/core";

/**
 * Byte budgets for replay pages and fetch replies (G11, DESIGN.md §8 "Budgets are in bytes"):
 * one `ServerBudget` per server (`maxReplayBytesInFlight`) and one `SocketBudget` per socket
 * (`maxSocketReplayBytes`) drawing from it. A request that does not fit waits, first come first
 * served, so a storm of replays or fetches queues instead of growing memory. No timers, no
 * scans: waiters sit in insertion-ordered sets (O(1) removal when one gives up).
 */

/** Bytes granted by a budget, held until released (exactly once; later calls do nothing). */
export interface Grant {
  /** The bytes held. */
  readonly bytes: number;
  /** Gives back part of the grant, keeping `bytes` (no-op unless smaller than what is held). */
  shrink(bytes: number): void;
  /** Gives the bytes back. */
  release(): void;
}

interface PoolWaiter {
  bytes: number;
  granted(): void;
}

/**
 * The server-wide budget: a FIFO byte semaphore. Its waiters are sockets (each `SocketBudget`
 * forwards one request at a time), so there is at most one waiter per connected socket.
 */
export class ServerBudget {
  readonly capacity: number;
  #used = 0;
  readonly #waiters = new Set<PoolWaiter>();
  #pumping = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes granted now. */
  get used(): number {
    return this.#used;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Calls `granted` once `bytes` (at most the capacity) are reserved: at once when they fit and
   * nobody waits ahead, else in turn. Returns a function that withdraws a request still waiting.
   */
  request(bytes: number, granted: () => void): () => void {
    const waiter: PoolWaiter = { bytes: Math.min(bytes, this.capacity), granted };
    if (this.#waiters.size === 0 && this.#used + waiter.bytes <= this.capacity) {
      this.#used += waiter.bytes;
      granted();
      return () => undefined;
    }
    this.#waiters.add(waiter);
    return () => {
      // The head leaving may let the next one in.
      if (this.#waiters.delete(waiter)) this.#pump();
    };
  }

  /** Takes `bytes` (at most the capacity) if they fit now with nobody waiting; false otherwise. */
  tryTake(bytes: number): boolean {
    const clamped = Math.min(bytes, this.capacity);
    if (this.#waiters.size > 0 || this.#used + clamped > this.capacity) return false;
    this.#used += clamped;
    return true;
  }

  /** Gives back bytes of an earlier grant. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
    this.#pump();
  }

  #pump(): void {
    // A grant may release or request again from inside `granted`: one loop does all the work.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let head = first(this.#waiters); head !== undefined; head = first(this.#waiters)) {
        if (this.#used + head.bytes > this.capacity) break;
        this.#used += head.bytes;
        this.#waiters.delete(head);
        head.granted();
      }
    } finally {
      this.#pumping = false;
    }
  }
}

interface SocketWaiter {
  bytes: number;
  resolve(grant: Grant): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One socket's budget. Requests are served in arrival order: the head takes its bytes from the
 * socket's budget, then waits for the server's; only then does the next one move up. Closing
 * (the socket disconnected) rejects the waiters, gives back every grant and stops the users
 * registered with `linkedSignal`.
 */
export class SocketBudget {
  readonly capacity: number;
  readonly #server: ServerBudget;
  #used = 0;
  readonly #queue = new Set<SocketWaiter>();
  /** The head request, reserved here and waiting for the server budget. */
  #forwarded: { waiter: SocketWaiter; withdraw: () => void } | undefined;
  readonly #grants = new Set<SocketGrant>();
  readonly #onClose = new Set<() => void>();
  #closed = false;

  constructor(server: ServerBudget, capacity: number) {
    this.#server = server;
    this.capacity = Math.min(capacity, server.capacity);
  }

  /** True once the socket is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes held or reserved by this socket now. */
  get used(): number {
    return this.#used;
  }

  /** Requests waiting now (in this socket's queue or at the server). */
  get waiting(): number {
    return this.#queue.size + (this.#forwarded === undefined ? 0 : 1);
  }

  /** What a request of `bytes` really takes: at least 1, at most the capacity. */
  clamp(bytes: number): number {
    return Math.max(1, Math.min(bytes, this.capacity));
  }

  /**
   * Resolves with a grant of `bytes` (clamped) once it fits in this socket's and the server's
   * budgets. Rejects with `CLOSED` when the socket is gone or `signal` aborts first; a request
   * that gives up leaves the queue at once.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<Grant> {
    if (this.#closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(abortedError());
    return new Promise<Grant>((resolve, reject) => {
      const waiter: SocketWaiter = {
        bytes: this.clamp(bytes),
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        waiter.onAbort = () => this.#giveUp(waiter, abortedError());
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#queue.add(waiter);
      this.#pump();
    });
  }

  /**
   * A grant of `bytes` (clamped) if it fits now in this socket's and the server's budgets with
   * nobody waiting ahead, else undefined (nothing is queued).
   */
  tryAcquire(bytes: number): Grant | undefined {
    const clamped = this.clamp(bytes);
    if (this.#closed || this.#queue.size > 0 || this.#forwarded !== undefined) return undefined;
    if (this.#used + clamped > this.capacity || !this.#server.tryTake(clamped)) return undefined;
    this.#used += clamped;
    const grant = new SocketGrant(clamped, this.#give);
    this.#grants.add(grant);
    return grant;
  }

  /**
   * A signal aborted when `parent` aborts, this budget closes or its user calls `abort`, and a
   * function to unlink it once its user is done (so nothing is left registered).
   */
  linkedSignal(parent: AbortSignal): { signal: AbortSignal; abort(): void; dispose(): void } {
    const controller = new AbortController();
    const abort = () => controller.abort();
    if (this.#closed || parent.aborted) {
      abort();
      return { signal: controller.signal, abort, dispose: () => undefined };
    }
    parent.addEventListener("abort", abort, { once: true });
    this.#onClose.add(abort);
    return {
      signal: controller.signal,
      abort,
      dispose: () => {
        parent.removeEventListener("abort", abort);
        this.#onClose.delete(abort);
      },
    };
  }

  /** The socket is gone: rejects waiters, gives back every grant, stops linked users. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const forwarded = this.#forwarded;
    this.#forwarded = undefined;
    if (forwarded !== undefined) {
      forwarded.withdraw();
      this.#settle(forwarded.waiter);
      forwarded.waiter.reject(closedError());
    }
    for (const waiter of this.#queue) {
      this.#settle(waiter);
      waiter.reject(closedError());
    }
    this.#queue.clear();
    let held = 0;
    for (const grant of this.#grants) held += grant.detach();
    this.#grants.clear();
    this.#used = 0;
    if (held > 0) this.#server.release(held);
    for (const abort of [...this.#onClose]) abort();
    this.#onClose.clear();
  }

  #pump(): void {
    if (this.#closed || this.#forwarded !== undefined) return;
    const head = first(this.#queue);
    if (head === undefined || this.#used + head.bytes > this.capacity) return;
    this.#queue.delete(head);
    this.#used += head.bytes;
    const forwarded: { waiter: SocketWaiter; withdraw: () => void } = {
      waiter: head,
      withdraw: () => undefined,
    };
    this.#forwarded = forwarded;
    forwarded.withdraw = this.#server.request(head.bytes, () => {
      if (this.#forwarded === forwarded) this.#forwarded = undefined;
      this.#settle(head);
      const grant = new SocketGrant(head.bytes, this.#give);
      this.#grants.add(grant);
      head.resolve(grant);
      this.#pump();
    });
  }

  /** Takes bytes back from a grant (released or shrunk). */
  readonly #give = (grant: SocketGrant, bytes: number, done: boolean): void => {
    if (done) this.#grants.delete(grant);
    this.#used = Math.max(0, this.#used - bytes);
    this.#server.release(bytes);
    this.#pump();
  };

  #giveUp(waiter: SocketWaiter, error: AssuredError): void {
    if (this.#queue.delete(waiter)) {
      this.#settle(waiter);
      waiter.reject(error);
      return;
    }
    const forwarded = this.#forwarded;
    if (forwarded?.waiter !== waiter) return;
    this.#forwarded = undefined;
    forwarded.withdraw();
    this.#used = Math.max(0, this.#used - waiter.bytes);
    this.#settle(waiter);
    waiter.reject(error);
    this.#pump();
  }

  /** Unhooks a waiter from its abort signal (it was granted, rejected or withdrawn). */
  #settle(waiter: SocketWaiter): void {
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener("abort", waiter.onAbort);
  }
}

class SocketGrant implements Grant {
  #bytes: number;
  #released = false;
  readonly #give: (grant: SocketGrant, bytes: number, done: boolean) => void;

  constructor(bytes: number, give: (grant: SocketGrant, bytes: number, done: boolean) => void) {
    this.#bytes = bytes;
    this.#give = give;
  }

  get bytes(): number {
    return this.#bytes;
  }

  shrink(bytes: number): void {
    const keep = Math.max(1, bytes);
    if (this.#released || keep >= this.#bytes) return;
    const freed = this.#bytes - keep;
    this.#bytes = keep;
    this.#give(this, freed, false);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#give(this, this.#bytes, true);
  }

  /** The budget closed: the grant is void and its bytes are returned by the caller. */
  detach(): number {
    if (this.#released) return 0;
    this.#released = true;
    return this.#bytes;
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const value of set) return value;
  return undefined;
}

function closedError(): AssuredError {
  return new AssuredError("CLOSED", "the socket disconnected.");
}

function abortedError(): AssuredError {
  return new AssuredError("CLOSED", "the request was withdrawn (superseded or unsubscribed).");
}
