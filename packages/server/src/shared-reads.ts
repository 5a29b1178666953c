import type { ReadPacer } from "./read-pacer.js";

/** A read waiting for its turn, and whether each request it answers still wants it. */
interface WaitingRead {
  answer: Promise<unknown>;
  wanted: (() => boolean)[];
}

/**
 * How long a request for a page waits for a running read of the same page to finish before it
 * reads anyway: a read the store never answers must not hold the others.
 */
export const RUNNING_READ_WAIT_MS = 2_000;

/**
 * Page reads paced by a `ReadPacer`, where requests for the same page (the same `key`) made
 * while one of them waits share that read. In a reconnect storm every client resumes from the
 * same offset, and one store read then answers all the requests for a page that came in
 * meanwhile, instead of one read each (and one page in memory each). A read waits for its turn
 * of the pacer (stores that read synchronously: memory, SQLite) and, first, for a running read
 * of the same page to finish (stores that read over the network: Redis, PostgreSQL, MongoDB,
 * whose reads start at once but take long), at most `RUNNING_READ_WAIT_MS`.
 *
 * A read is joined only until it starts, so every request is answered by a read that started
 * after the request was made: what it returns is as fresh as the request's own read would have
 * been. A read that may start at once (no read of its page runs, the turn's slice has time
 * left) runs alone. A read whose requests are all no longer wanted when it may start (their
 * sockets left, their subscriptions were superseded) is skipped and answers undefined.
 */
export class SharedReads {
  readonly #pacer: ReadPacer;
  readonly #runningWaitMs: number;
  /** The reads waiting for their turn, by key; each leaves the map as its turn comes. */
  readonly #waiting = new Map<string, WaitingRead>();
  /** The reads started and not yet settled, by key. */
  readonly #running = new Map<string, Promise<unknown>>();

  constructor(pacer: ReadPacer, runningWaitMs = RUNNING_READ_WAIT_MS) {
    this.#pacer = pacer;
    this.#runningWaitMs = runningWaitMs;
  }

  /**
   * A turn for catch-up work other than a read (a page's send, a subscription's start):
   * undefined when it may run now, else a promise
   * resolving when it may: the pacer's turns, shared with the reads. Do the work synchronously
   * right after: the pacer's next check runs after the resolved caller's continuation, so it
   * counts that work in the turn's slice. A read shared by a thousand sockets answers them all
   * at once; sent in that same turn, their pages (encoded and written one socket at a time)
   * stalled the event loop for over 100 ms.
   */
  turn(): Promise<void> | undefined {
    return this.#pacer.turn();
  }

  /** Reads waiting for their turn that later requests for the same page may still join. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Reads started and not yet settled. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Runs `read` in its turn, or joins the waiting read of `key` (undefined: never shared); a
   * read of `key` that is running first runs to its end (at most `runningWaitMs`), and the
   * requests made meanwhile share the read after it. Undefined when, once the read may start,
   * no request for it is `wanted` any more. `read` must give the same answer to everyone who
   * asks for `key`, and nobody may change that answer.
   */
  run<T>(
    key: string | undefined,
    read: () => Promise<T>,
    wanted: () => boolean,
  ): Promise<T | undefined> {
    if (key !== undefined) {
      const waiting = this.#waiting.get(key);
      if (waiting !== undefined) {
        waiting.wanted.push(wanted);
        return waiting.answer as Promise<T | undefined>;
      }
    }
    const running = key === undefined ? undefined : this.#running.get(key);
    const paced =
      running === undefined
        ? this.#pacer.turn()
        : settledOrAfter(running, this.#runningWaitMs).then(() => this.#pacer.turn());
    if (paced === undefined) return this.#start(key, read);
    if (key === undefined) return paced.then(() => (wanted() ? read() : undefined));
    const requests = [wanted];
    const answer = paced.then(
      () => {
        this.#waiting.delete(key);
        return requests.some((stillWanted) => stillWanted()) ? this.#start(key, read) : undefined;
      },
      (error: unknown) => {
        this.#waiting.delete(key);
        throw error;
      },
    );
    this.#waiting.set(key, { answer, wanted: requests });
    return answer;
  }

  /** Starts `read`, known as running for `key` until it settles. */
  #start<T>(key: string | undefined, read: () => Promise<T>): Promise<T> {
    const started = read();
    if (key === undefined) return started;
    this.#running.set(key, started);
    const settled = () => {
      if (this.#running.get(key) === started) this.#running.delete(key);
    };
    started.then(settled, settled);
    return started;
  }
}

/** Resolves once `running` settled or `ms` passed, whichever comes first; never rejects. */
function settledOrAfter(running: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.(); // a stuck read must not keep a closed server's process alive
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    running.then(done, done);
  });
}

/** The key of a catch-up page: the same stream, epoch, start and limit read the same records. */
export function pageKey(stream: string, epoch: string, after: number, limit: number): string {
  return JSON.stringify([stream, epoch, after, limit]);
}
