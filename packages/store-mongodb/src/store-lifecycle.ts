import { AssuredError } from "@assured/core";
import { toStoreError } from "@assured/core/store";
import type { MongoClient } from "mongodb";

/**
 * The open/closed state shared by both stores: lazy one-time setup (retried after a failure),
 * tracking of running operations, `STORE_CLOSED` after `close()`, and driver errors wrapped
 * as `STORE_UNAVAILABLE`.
 */
export class StoreLifecycle<Ready> {
  private setup: Promise<Ready> | undefined;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly prepare: () => Promise<Ready>,
    private readonly ownedClient: MongoClient | undefined,
  ) {}

  /** Throws `STORE_CLOSED` once the store is closed. */
  assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", "the store was closed; create a new instance.");
    }
  }

  /** The prepared collections, set up on first use. */
  ready(): Promise<Ready> {
    if (this.setup === undefined) {
      const setup = this.prepare();
      this.setup = setup;
      setup.catch(() => {
        if (this.setup === setup) this.setup = undefined;
      });
    }
    return this.setup;
  }

  /** The setup if it was started (close uses it without connecting). */
  started(): Promise<Ready> | undefined {
    return this.setup;
  }

  /** Runs a store operation: closed check, setup, tracking, error wrapping. */
  async run<T>(operation: string, action: (ready: Ready) => Promise<T>): Promise<T> {
    this.assertOpen();
    const task = this.ready().then(action);
    this.running.add(task);
    try {
      return await task;
    } catch (error) {
      throw toStoreError(error, operation);
    } finally {
      this.running.delete(task);
    }
  }

  /** Marks the store closed, waits for running operations, closes a client the store owns. */
  async close(beforeClient: () => Promise<void> = async () => {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await beforeClient();
    await Promise.allSettled([...this.running]);
    if (this.ownedClient !== undefined) {
      await this.ownedClient.close().catch(() => undefined);
    }
  }
}
