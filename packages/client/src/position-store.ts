import { AssuredError, type Position, type StreamName } from "@assured/core";
import { assertPosition, type ClientLocks, type ClientStorage } from "@assured/core/protocol";

/** A position write waiting for its turn: the latest value for its stream, or null to remove it. */
interface PendingWrite {
  position: Position | null;
  /** Written whatever is stored: a rewind, or it follows a removal or rewind it replaced in the queue. */
  force?: boolean;
  onError: (error: AssuredError) => void;
}

/**
 * Persists each stream's position under `<prefix>pos:<stream>` as `{ epoch, offset, id? }` JSON:
 * the id of the event at the offset is stored in the same record as the offset, so both change
 * together (the server checks it on resume to detect a diverged log, DESIGN §8). A record
 * without `id` (written by an older client) loads as a position without one.
 * Writes run one at a time, the first on the turn of the event loop after the save; until a
 * write starts, later positions of a stream replace each other, so at most one write per stream
 * waits (bounded by the number of streams, G11, however slow the storage) and the last position
 * saved is the one stored.
 *
 * Tabs sharing the storage track the same streams: each write is a read-compare-write under
 * one lock, and a position never moves back within an epoch (a slower tab cannot undo a faster
 * one's progress). A position of another epoch replaces the stored one (a resync), and so does a
 * `rewind` save (a `diverged` outcome: the log was rewritten below the stored offset).
 */
export class PositionStore {
  readonly #storage: ClientStorage;
  readonly #locks: ClientLocks;
  readonly #prefix: string;
  readonly #lock: string;
  readonly #waiting = new Map<StreamName, PendingWrite>();
  #running: Promise<void> | undefined;

  constructor(storage: ClientStorage, locks: ClientLocks, prefix: string) {
    this.#storage = storage;
    this.#locks = locks;
    this.#prefix = prefix;
    this.#lock = `assured:${prefix}positions`;
  }

  #key(stream: StreamName): string {
    return `${this.#prefix}pos:${stream}`;
  }

  /** The stored position of a stream, or null (also for an unreadable value). */
  async load(stream: StreamName): Promise<Position | null> {
    let text: string | null;
    try {
      text = await this.#storage.get(this.#key(stream));
    } catch (error) {
      throw new AssuredError(
        "STORE_UNAVAILABLE",
        `client storage could not read the position of ${JSON.stringify(stream)}`,
        {
          cause: error,
        },
      );
    }
    return parsePosition(text);
  }

  /**
   * Saves a position (after the handlers resolved); failures go to `onError`. With `rewind`
   * (a `diverged` outcome) it is written even below the stored offset of the same epoch. The
   * position is kept as given until written: the caller does not change it afterwards (the
   * sequencer hands out a new object per position).
   */
  save(
    stream: StreamName,
    position: Position,
    onError: (error: AssuredError) => void,
    rewind = false,
  ): void {
    // Serialized when written: positions replaced while waiting cost nothing, not even an
    // entry (one save per delivered event).
    const waiting = this.#waiting.get(stream);
    if (waiting !== undefined && waiting.position !== null) {
      waiting.position = position;
      waiting.onError = onError;
      waiting.force ||= rewind;
      return;
    }
    this.#enqueue(stream, { position, onError, force: rewind });
  }

  /** Forgets a stream's position. */
  remove(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#enqueue(stream, { position: null, onError });
  }

  /** Resolves when every write issued so far has finished. */
  flush(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  #enqueue(stream: StreamName, write: PendingWrite): void {
    const replaced = this.#waiting.get(stream);
    if (write.position !== null && replaced && (replaced.position === null || replaced.force)) {
      // A later position replacing a removal or a rewind is written whatever is stored too.
      write.force = true;
    }
    this.#waiting.set(stream, write);
    // Started on the next turn: the positions saved meanwhile (a batch's events, the batches
    // of every socket read in this turn) are written once per stream, and the writes stay off
    // the path of the deliveries still to run in this turn.
    this.#running ??= new Promise<void>((resolve) => afterTurn(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    for (const [stream, write] of this.#waiting) {
      this.#waiting.delete(stream);
      const key = this.#key(stream);
      try {
        await this.#locks.request(this.#lock, {}, () =>
          this.#write(key, write.position, write.force === true),
        );
      } catch (error) {
        write.onError(
          new AssuredError(
            "STORE_UNAVAILABLE",
            `client storage could not save the position of ${JSON.stringify(stream)}`,
            { cause: error, details: { stream } },
          ),
        );
      }
    }
    this.#running = undefined;
  }

  async #write(key: string, position: Position | null, force: boolean): Promise<void> {
    if (position === null) {
      await this.#storage.remove(key);
      return;
    }
    const stored = force ? null : parsePosition(await this.#storage.get(key));
    if (stored && stored.epoch === position.epoch && stored.offset >= position.offset) return;
    await this.#storage.set(key, JSON.stringify(position));
  }
}

/** Runs `callback` after the current turn of the event loop (`setImmediate`, else `setTimeout`). */
function afterTurn(callback: () => void): void {
  if (typeof setImmediate === "function") setImmediate(callback);
  else setTimeout(callback, 0);
}

function parsePosition(text: string | null): Position | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    assertPosition(value);
    return copyPosition(value);
  } catch {
    return null;
  }
}

/** `{ epoch, offset, id? }` and nothing else. */
function copyPosition(position: Position): Position {
  const copy: Position = { epoch: position.epoch, offset: position.offset };
  if (position.id !== undefined) copy.id = position.id;
  return copy;
}
