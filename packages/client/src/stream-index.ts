import { AssuredError, type StreamName } from "@assured/core";
import type { ClientLocks, ClientStorage } from "@assured/core/protocol";
import { assertStreamName } from "@assured/core/store";

/**
 * The streams the server subscribed this client to (`assured.subscribe(socket, stream)` on the
 * server), persisted under `<prefix>streams` so that a reload tracks them again from their
 * stored positions and carries them in the handshake (DESIGN §8, "every tracked stream is
 * persisted"). Streams the application subscribes itself are subscribed again by its own code.
 * Changes are read-modify-writes under one lock, so tabs sharing the storage never drop each
 * other's streams.
 */
export class StreamIndex {
  readonly #storage: ClientStorage;
  readonly #locks: ClientLocks;
  readonly #key: string;
  readonly #lock: string;
  #writes: Promise<void> = Promise.resolve();

  constructor(storage: ClientStorage, locks: ClientLocks, prefix: string) {
    this.#storage = storage;
    this.#locks = locks;
    this.#key = `${prefix}streams`;
    this.#lock = `assured:${prefix}streams`;
  }

  /** The stored streams (unreadable entries are skipped). */
  async load(): Promise<StreamName[]> {
    return this.#read();
  }

  /** Adds a stream; failures go to `onError`. */
  add(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#change((streams) => (streams.includes(stream) ? null : [...streams, stream]), onError);
  }

  /** Removes a stream; failures go to `onError`. */
  remove(stream: StreamName, onError: (error: AssuredError) => void): void {
    this.#change(
      (streams) => (streams.includes(stream) ? streams.filter((s) => s !== stream) : null),
      onError,
    );
  }

  /** Resolves when every change issued so far has been written. */
  flush(): Promise<void> {
    return this.#writes;
  }

  #change(
    edit: (streams: StreamName[]) => StreamName[] | null,
    onError: (error: AssuredError) => void,
  ): void {
    this.#writes = this.#writes.then(() =>
      this.#locks
        .request(this.#lock, {}, async () => {
          const next = edit(await this.#read());
          if (next !== null) await this.#storage.set(this.#key, JSON.stringify(next));
        })
        .catch((error) => onError(storageFailure(error))),
    );
  }

  async #read(): Promise<StreamName[]> {
    let text: string | null;
    try {
      text = await this.#storage.get(this.#key);
    } catch (error) {
      throw storageFailure(error);
    }
    if (text === null) return [];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return [];
    }
    if (!Array.isArray(value)) return [];
    return value.filter((s): s is StreamName => {
      try {
        assertStreamName(s);
        return true;
      } catch {
        return false;
      }
    });
  }
}

function storageFailure(error: unknown): AssuredError {
  if (error instanceof AssuredError) return error;
  return new AssuredError(
    "STORE_UNAVAILABLE",
    "client storage could not read or write the list of server-subscribed streams.",
    { cause: error },
  );
}
