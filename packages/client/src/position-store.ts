import { AssuredError, type Position, type StreamName } from "@assured/core";
import { assertPosition, type ClientLocks, type ClientStorage } from "@assured/core/protocol";

/**
 * What outcomes that did not recover (`epoch`, `diverged`, `trimmed`, `limit`) judged: the
 * positions the stream had (null for none). The stream goes on from the position saved with
 * them, which may be lower or of another epoch.
 */
export type Judged = readonly (Position | null)[];

/**
 * Whether `next` replaces the `stored` position as an ordinary save (a delivered event, a
 * recovered outcome): forward within the stored epoch; into another epoch only past offset 0.
 * A position at offset 0 resumes any log from its start, so one taken in another epoch (a tab
 * that subscribed before the stream's first event, or before a reset) must not undo a position
 * another tab has moved on: it would deliver those events again after a reload.
 */
export function advancesStored(stored: Position, next: Position): boolean {
  if (stored.epoch === next.epoch) return next.offset > stored.offset;
  return next.offset > 0;
}

/**
 * Whether a correction to `next` that judged `judged` may replace `stored`: it is the judged
 * position itself, or any position of the judged log when the correction leaves that log for
 * another epoch (the log was lost or reset: everything stored in it is obsolete, whichever tab
 * wrote it). Within one epoch (a rewritten log) only the judged position itself: a lower one may
 * be another tab's progress in the new history.
 */
export function judgedWith(judged: Position | null, stored: Position, next: Position): boolean {
  if (judged === null) return false;
  if (samePosition(judged, stored)) return true;
  return judged.epoch === stored.epoch && next.epoch !== judged.epoch;
}

/**
 * `a` with the positions of `b` it lacks: saves merged while a write waits (each reconnect's
 * outcome judges the same position again) keep one entry per judged position.
 */
export function mergeJudged(a: Judged, b: Judged): Judged {
  const out = [...a];
  for (const p of b) if (!out.some((q) => samePosition(p, q))) out.push(p);
  return out;
}

/** Same epoch, offset and id. */
export function samePosition(a: Position | null, b: Position | null): boolean {
  if (a === null || b === null) return a === b;
  return a.epoch === b.epoch && a.offset === b.offset && a.id === b.id;
}

/** A position write waiting for its turn: the latest value for its stream, or null to remove it. */
interface PendingWrite {
  position: Position | null;
  /** Written whatever is stored: a removal, or a position that replaced a removal in the queue. */
  force: boolean;
  /** What the corrections merged into this write judged (undefined: none). */
  judged: Judged | undefined;
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
 * Tabs sharing the storage track the same streams, and save in any order: each write is a
 * read-compare-write under one lock. An ordinary save never moves the position back
 * (`advancesStored`: a slower tab cannot undo a faster one's progress). A correction (an
 * outcome that did not recover) replaces the stored position, even with a lower one or one at
 * offset 0 of another epoch, only while that is still what the server judged (`judgedWith`)
 * or what this store wrote last; once another tab has written since, the ordinary rule
 * decides, so a late correction cannot undo the progress another tab made after its own.
 *
 * An `exclusive` store (the client's own storage, which nothing else can reach) is the only
 * writer of its keys: what it wrote last is what is stored, so a write neither takes the lock
 * nor reads the stored value first (one storage call per write instead of three: a third of a
 * client's time per event went to position writes when each event was a batch of its own).
 */
export class PositionStore {
  readonly #storage: ClientStorage;
  readonly #locks: ClientLocks;
  readonly #prefix: string;
  readonly #lock: string;
  readonly #waiting = new Map<StreamName, PendingWrite>();
  /** The position this store wrote last per key (bounded by the streams). */
  readonly #own = new Map<string, Position>();
  #running: Promise<void> | undefined;
  readonly #exclusive: boolean;

  constructor(storage: ClientStorage, locks: ClientLocks, prefix: string, exclusive = false) {
    this.#storage = storage;
    this.#locks = locks;
    this.#prefix = prefix;
    this.#lock = `assured:${prefix}positions`;
    this.#exclusive = exclusive;
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
   * Saves a position (after the handlers resolved); failures go to `onError`. With `judged`,
   * the position comes from outcomes that did not recover (a correction, see the class). The
   * position is kept as given until written: the caller does not change it afterwards (the
   * sequencer hands out a new object per position).
   */
  save(
    stream: StreamName,
    position: Position,
    onError: (error: AssuredError) => void,
    judged?: Judged,
  ): void {
    // Serialized when written: positions replaced while waiting cost nothing, not even an
    // entry (one save per delivered event).
    const waiting = this.#waiting.get(stream);
    if (waiting !== undefined && waiting.position !== null) {
      waiting.position = position;
      waiting.onError = onError;
      if (judged) waiting.judged = mergeJudged(waiting.judged ?? [], judged);
      return;
    }
    this.#enqueue(stream, { position, onError, force: false, judged });
  }

  /** Forgets a stream's position. */
  remove(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#enqueue(stream, { position: null, onError, force: true, judged: undefined });
  }

  /** Resolves when every write issued so far has finished. */
  flush(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  #enqueue(stream: StreamName, write: PendingWrite): void {
    const replaced = this.#waiting.get(stream);
    if (write.position !== null && replaced?.position === null) {
      // A position replacing a removal is written whatever is stored too.
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
        if (this.#exclusive) await this.#write(key, write);
        else await this.#locks.request(this.#lock, {}, () => this.#write(key, write));
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

  async #write(key: string, write: PendingWrite): Promise<void> {
    const { position, judged } = write;
    if (position === null) {
      await this.#storage.remove(key);
      // After the removal: if it failed, what this store wrote last is still what is stored.
      this.#own.delete(key);
      return;
    }
    const stored = write.force
      ? null
      : this.#exclusive
        ? (this.#own.get(key) ?? null)
        : parsePosition(await this.#storage.get(key));
    if (stored !== null) {
      const corrects =
        judged !== undefined &&
        (judged.some((j) => judgedWith(j, stored, position)) ||
          samePosition(this.#own.get(key) ?? null, stored));
      if (!corrects && !advancesStored(stored, position)) return;
    }
    await this.#storage.set(key, JSON.stringify(position));
    this.#own.set(key, position);
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
