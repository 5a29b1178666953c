import { AssuredError, type Position, type StreamName } from "@assured/core";
import { assertPosition, type ClientLocks, type ClientStorage } from "@assured/core/protocol";

/**
 * How a saved position may replace the stored one of its stream:
 * - `advance` (a delivered event, a recovered outcome): forward within the stored epoch; into
 *   another epoch only past offset 0. A position at offset 0 resumes any log from its start, so
 *   one taken in another epoch (a tab that subscribed before the stream's first event, or before
 *   a reset) must not undo a position another tab has moved on: it would deliver those events
 *   again after a reload;
 * - `resync` (an outcome that did not recover: the log was reset or lost): also at offset 0 of
 *   another epoch, never back within one;
 * - `rewind` (a `diverged` outcome: the log was rewritten below the stored offset): whatever is
 *   stored.
 */
export type PositionChange = "advance" | "resync" | "rewind";

const STRENGTH: Record<PositionChange, number> = { advance: 0, resync: 1, rewind: 2 };

/** The change that allows what either allows (two saves merged while they wait). */
export function strongerChange(a: PositionChange, b: PositionChange): PositionChange {
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
}

/** Whether `next`, saved as `change`, replaces the `stored` position. */
export function replacesStored(
  stored: Position | null,
  next: Position,
  change: PositionChange,
): boolean {
  if (stored === null || change === "rewind") return true;
  if (stored.epoch === next.epoch) return next.offset > stored.offset;
  return next.offset > 0 || change === "resync";
}

/** A position write waiting for its turn: the latest value for its stream, or null to remove it. */
interface PendingWrite {
  position: Position | null;
  /** How it may replace the stored one; `rewind` also when it follows a removal or rewind it replaced in the queue. */
  change: PositionChange;
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
 * one lock (`replacesStored`), and a position never moves back within an epoch (a slower tab
 * cannot undo a faster one's progress). A position of another epoch replaces the stored one
 * when it is past offset 0 or comes from an outcome that did not recover (a resync), and a
 * `rewind` save (a `diverged` outcome) replaces whatever is stored.
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
   * Saves a position (after the handlers resolved); failures go to `onError`. `change` says
   * what it may replace (`PositionChange`). The position is kept as given until written: the
   * caller does not change it afterwards (the sequencer hands out a new object per position).
   */
  save(
    stream: StreamName,
    position: Position,
    onError: (error: AssuredError) => void,
    change: PositionChange = "advance",
  ): void {
    // Serialized when written: positions replaced while waiting cost nothing, not even an
    // entry (one save per delivered event).
    const waiting = this.#waiting.get(stream);
    if (waiting !== undefined && waiting.position !== null) {
      waiting.position = position;
      waiting.onError = onError;
      waiting.change = strongerChange(waiting.change, change);
      return;
    }
    this.#enqueue(stream, { position, onError, change });
  }

  /** Forgets a stream's position. */
  remove(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#enqueue(stream, { position: null, onError, change: "rewind" });
  }

  /** Resolves when every write issued so far has finished. */
  flush(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  #enqueue(stream: StreamName, write: PendingWrite): void {
    const replaced = this.#waiting.get(stream);
    if (write.position !== null && replaced && replaced.change === "rewind") {
      // A later position replacing a removal or a rewind is written whatever is stored too.
      write.change = "rewind";
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
          this.#write(key, write.position, write.change),
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

  async #write(key: string, position: Position | null, change: PositionChange): Promise<void> {
    if (position === null) {
      await this.#storage.remove(key);
      return;
    }
    const stored = change === "rewind" ? null : parsePosition(await this.#storage.get(key));
    if (!replacesStored(stored, position, change)) return;
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
