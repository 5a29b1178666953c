import { AssuredError } from "@assured/core";
import { toStoreError } from "@assured/core/store";
import type { StoreConnection } from "./connection.js";

/**
 * The open/closed state shared by both stores: lazy one-time setup (retried after a failure),
 * tracking of running operations, `STORE_CLOSED` after `close()`, and driver errors wrapped
 * as `STORE_UNAVAILABLE` (with the driver's error as `cause`).
 */
export class StoreLifecycle {
  private setup: Promise<void> | undefined;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly prepare: () => Promise<void>,
    private readonly connection: StoreConnection,
    private readonly name: string,
  ) {}

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Throws `STORE_CLOSED` once the store is closed. */
  assertOpen(): void {
    if (this.closed) {
      throw new AssuredError("STORE_CLOSED", `this ${this.name} was closed; create a new one.`);
    }
  }

  /** The schema, checked and created on first use. */
  ready(): Promise<void> {
    if (this.setup === undefined) {
      const setup = this.prepare();
      this.setup = setup;
      setup.catch(() => {
        if (this.setup === setup) this.setup = undefined;
      });
    }
    return this.setup;
  }

  /**
   * Runs a store operation: closed check (skipped for writes accepted before `close()`,
   * which `close()` waits for), setup, tracking, error wrapping.
   */
  async run<T>(operation: string, action: () => Promise<T>, accepted = false): Promise<T> {
    if (!accepted) this.assertOpen();
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

  /**
   * Marks the store closed, runs `drain` (queued writes), waits for running operations, and
   * ends a pool the store owns. Idempotent.
   */
  async close(drain: () => Promise<void> = async () => {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await drain();
    await Promise.allSettled([...this.running]);
    if (this.connection.owned) await this.connection.pool.end().catch(() => undefined);
  }
}
