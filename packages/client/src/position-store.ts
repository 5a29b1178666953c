import {
  AssuredError,
  assertPosition,
  type ClientStorage,
  type Position,
  type StreamName,
} from "@assured/core";

/**
 * Persists each stream's position under `<prefix>pos:<stream>` as `{ epoch, offset }` JSON.
 * Writes run one at a time in call order, so the last position saved is the one stored.
 */
export class PositionStore {
  readonly #storage: ClientStorage;
  readonly #prefix: string;
  #writes: Promise<void> = Promise.resolve();

  constructor(storage: ClientStorage, prefix: string) {
    this.#storage = storage;
    this.#prefix = prefix;
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
    if (text === null) return null;
    try {
      const value: unknown = JSON.parse(text);
      assertPosition(value);
      return { epoch: value.epoch, offset: value.offset };
    } catch {
      return null;
    }
  }

  /** Saves a position (after the handlers resolved); failures go to `onError`. */
  save(stream: StreamName, position: Position, onError: (error: AssuredError) => void): void {
    const text = JSON.stringify({ epoch: position.epoch, offset: position.offset });
    this.#enqueue(() => this.#storage.set(this.#key(stream), text), stream, onError);
  }

  /** Forgets a stream's position. */
  remove(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#enqueue(() => this.#storage.remove(this.#key(stream)), stream, onError);
  }

  /** Resolves when every write issued so far has finished. */
  flush(): Promise<void> {
    return this.#writes;
  }

  #enqueue(
    task: () => Promise<void>,
    stream: StreamName,
    onError: (error: AssuredError) => void,
  ): void {
    this.#writes = this.#writes.then(task).catch((error) => {
      onError(
        new AssuredError(
          "STORE_UNAVAILABLE",
          `client storage could not save the position of ${JSON.stringify(stream)}`,
          {
            cause: error,
            details: { stream },
          },
        ),
      );
    });
  }
}
