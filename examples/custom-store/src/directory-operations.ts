import { mkdir } from "node:fs/promises";
import { AssuredError } from "@assured/core";
import { toStoreError } from "@assured/core/store";
import { fileFor } from "./durable-file.js";
import { SerialQueue } from "./serial-queue.js";

/** What a file store keeps in its directory, and how it names it. */
export interface DirectoryLayout {
  /** The directory holding one file per name (created on first use). */
  directory: string;
  /** The store's class name, for error messages. */
  store: string;
  /** The ending of each file, such as `.jsonl`. */
  extension: string;
  /** Throws unless the name (stream or key) is valid. */
  assertName: (name: string) => void;
}

/**
 * Runs a file store's operations one at a time, each on the file of one name: checks that the
 * store is open and the arguments are valid, creates the directory on first use, and turns file
 * system errors into `STORE_UNAVAILABLE`.
 */
export class DirectoryOperations {
  private readonly queue = new SerialQueue();
  private ready: Promise<unknown> | undefined;
  private closed = false;

  constructor(private readonly layout: DirectoryLayout) {
    if (typeof layout.directory !== "string" || layout.directory === "") {
      throw new AssuredError("INVALID_ARGUMENT", `${layout.store} needs { directory }.`);
    }
  }

  /** Queues `operation` on the file of `name`, after `validate` has checked its arguments. */
  run<T>(
    operation: string,
    name: string,
    validate: () => void,
    body: (path: string) => Promise<T>,
  ): Promise<T> {
    const { directory, store, extension, assertName } = this.layout;
    return this.queue.run(async () => {
      if (this.closed) throw new AssuredError("STORE_CLOSED", `This ${store} was closed.`);
      assertName(name);
      validate();
      try {
        this.ready ??= mkdir(directory, { recursive: true });
        await this.ready;
        return await body(fileFor(directory, name, extension));
      } catch (error) {
        throw toStoreError(error, `${store}.${operation}`);
      }
    });
  }

  /** Refuses new operations and waits for the queued ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.run(async () => undefined);
  }
}
