import type { ReadPacer } from "./read-pacer.js";

/**
 * Longest a request for a page waits for a running read of the same page before it reads on its
 * own (a catch-up page takes milliseconds from a healthy store; the test MongoDB server takes
 * seconds, and its readers should not wait for each other that long).
 */
export const RUNNING_READ_WAIT_MS = 250;

/** A read waiting for its turn, and whether each request it answers still wants it. */
interface WaitingRead {
  answer: Promise<unknown>;
  wanted: (() => boolean)[];
}

/**
 * Page reads paced by a `ReadPacer`, where requests for the same page (the same `key`) made
 * while one of them waits for its turn share that read. In a reconnect storm every client
 * resumes from the same offset: with a store that reads synchronously (memory, SQLite) most of
 * their requests wait for a turn, and one store read then answers all the requests for a page
 * that came in meanwhile, instead of one read each (and one page in memory each).
 *
 * A read is joined only until it starts, so every request is answered by a read that started
 * after the request was made: what it returns is as fresh as the request's own read would have
 * been. A read that may start at once (the turn's slice has time left) runs alone, unless a
 * read of the same page is running: then the request waits for that read to end (at most
 * `runningWaitMs`), and one read, started after that, answers it and every request for the
 * page made meanwhile. Stores that read over the network (Redis, PostgreSQL, MongoDB) start a
 * read in microseconds, so without this a storm's thousand identical first pages were a
 * thousand reads and up to a thousand pages in memory. The wait is bounded so that a slow or
 * hung read delays the requests behind it by little: past it they read on their own. A read
 * whose requests are all no longer wanted when its turn comes (their sockets left, their
 * subscriptions were superseded) is skipped and answers undefined.
 */
export class SharedReads {
  readonly #pacer: ReadPacer;
  /** The reads waiting for their turn, by key; each leaves the map as its turn comes. */
  readonly #waiting = new Map<string, WaitingRead>();
  /** The reads running, by key: a request for one of them waits for it to end. */
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #runningWaitMs: number;

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

  /**
   * Runs `read` in its turn, or joins the waiting read of `key` (undefined: never shared);
   * undefined when, at its turn, no request for it is `wanted` any more. `read` must give the
   * same answer to everyone who asks for `key`, and nobody may change that answer.
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
      const running = this.#running.get(key);
      if (running !== undefined) {
        return this.#wait(key, read, wanted, () =>
          this.#ended(running).then(() => this.#pacer.turn()),
        );
      }
    }
    const paced = this.#pacer.turn();
    if (paced === undefined) return this.#start(key, read);
    if (key === undefined) return paced.then(() => (wanted() ? read() : undefined));
    return this.#wait(key, read, wanted, () => paced);
  }

  /**
   * A read of `key` that starts once `ready` resolves (if a request still wants it), which the
   * requests for `key` made until then join.
   */
  #wait<T>(
    key: string,
    read: () => Promise<T>,
    wanted: () => boolean,
    ready: () => Promise<void> | undefined,
  ): Promise<T | undefined> {
    const requests = [wanted];
    const answer = Promise.resolve()
      .then(ready)
      .then(
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

  /** Starts `read`, known as the running read of `key` until it ends. */
  #start<T>(key: string | undefined, read: () => Promise<T>): Promise<T> {
    const reading = read();
    if (key !== undefined) {
      this.#running.set(key, reading);
      const ended = () => {
        if (this.#running.get(key) === reading) this.#running.delete(key);
      };
      reading.then(ended, ended);
    }
    return reading;
  }

  /** Resolves when `reading` ended (either way), or after `runningWaitMs`; never rejects. */
  #ended(reading: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.#runningWaitMs);
      timer.unref?.();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      reading.then(done, done);
    });
  }
}

/** The key of a catch-up page: the same stream, epoch, start and limit read the same records. */
export function pageKey(stream: string, epoch: string, after: number, limit: number): string {
  return JSON.stringify([stream, epoch, after, limit]);
}
