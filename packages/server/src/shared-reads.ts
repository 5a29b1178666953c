import type { ReadPacer } from "./read-pacer.js";

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
 * been. A read that may start at once (the turn's slice has time left) runs alone. A read whose
 * requests are all no longer wanted when its turn comes (their sockets left, their
 * subscriptions were superseded) is skipped and answers undefined.
 */
export class SharedReads {
  readonly #pacer: ReadPacer;
  /** The reads waiting for their turn, by key; each leaves the map as its turn comes. */
  readonly #waiting = new Map<string, WaitingRead>();

  constructor(pacer: ReadPacer) {
    this.#pacer = pacer;
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
    }
    const paced = this.#pacer.turn();
    if (paced === undefined) return read();
    if (key === undefined) return paced.then(() => (wanted() ? read() : undefined));
    const requests = [wanted];
    const answer = paced.then(
      () => {
        this.#waiting.delete(key);
        return requests.some((stillWanted) => stillWanted()) ? read() : undefined;
      },
      (error: unknown) => {
        this.#waiting.delete(key);
        throw error;
      },
    );
    this.#waiting.set(key, { answer, wanted: requests });
    return answer;
  }
}

/** The key of a catch-up page: the same stream, epoch, start and limit read the same records. */
export function pageKey(stream: string, epoch: string, after: number, limit: number): string {
  return JSON.stringify([stream, epoch, after, limit]);
}
