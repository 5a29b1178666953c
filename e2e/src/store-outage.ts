import type {
  AppendEntry,
  AppendResult,
  ClaimOptions,
  ClaimResult,
  DedupStore,
  EventStore,
  ReadOptions,
  ReadResult,
  StoredResponse,
  StreamHead,
} from "@assured/core/store";
import type { Changes } from "./changes.js";

/**
 * A switch that takes a backend "down": while `down`, every call of the stores built with it
 * throws the raw error a database driver throws when it cannot connect. `failures` counts the
 * refused calls, and every refusal notifies `changes`.
 */
export class Outage {
  down = false;
  failures = 0;
  readonly #changes: Changes | undefined;
  #recoverAfter: number | undefined;

  constructor(changes?: Changes) {
    this.#changes = changes;
  }

  /** Goes down now and comes back on its own once `calls` more calls were refused. */
  downFor(calls: number): void {
    this.down = true;
    this.#recoverAfter = this.failures + calls;
  }

  /** Throws like a driver whose server is gone, when down. */
  check(operation: string): void {
    if (!this.down) return;
    this.failures++;
    if (this.#recoverAfter !== undefined && this.failures >= this.#recoverAfter) {
      this.down = false;
      this.#recoverAfter = undefined;
    }
    this.#changes?.notify();
    throw new Error(`${operation}: connect ECONNREFUSED 127.0.0.1:6379`);
  }
}

/** A real `EventStore` behind an `Outage` switch. */
export class OutageEventStore implements EventStore {
  readonly capabilities: EventStore["capabilities"];
  readonly #inner: EventStore;
  readonly #outage: Outage;

  constructor(inner: EventStore, outage: Outage) {
    this.#inner = inner;
    this.#outage = outage;
    this.capabilities = inner.capabilities;
  }

  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.#outage.check("append");
    return this.#inner.append(stream, entries);
  }

  async read(stream: string, options: ReadOptions): Promise<ReadResult> {
    this.#outage.check("read");
    return this.#inner.read(stream, options);
  }

  async head(stream: string): Promise<StreamHead> {
    this.#outage.check("head");
    return this.#inner.head(stream);
  }

  async reset(stream: string): Promise<StreamHead> {
    this.#outage.check("reset");
    return this.#inner.reset(stream);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A real `DedupStore` behind an `Outage` switch. */
export class OutageDedupStore implements DedupStore {
  readonly capabilities: DedupStore["capabilities"];
  readonly #inner: DedupStore;
  readonly #outage: Outage;

  constructor(inner: DedupStore, outage: Outage) {
    this.#inner = inner;
    this.#outage = outage;
    this.capabilities = inner.capabilities;
  }

  async claim(key: string, options: ClaimOptions): Promise<ClaimResult> {
    this.#outage.check("claim");
    return this.#inner.claim(key, options);
  }

  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    options: { ttlMs: number },
  ): Promise<boolean> {
    this.#outage.check("complete");
    return this.#inner.complete(key, token, response, options);
  }

  async release(key: string, token: string): Promise<boolean> {
    this.#outage.check("release");
    return this.#inner.release(key, token);
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.#outage.check("renew");
    return this.#inner.renew(key, token, leaseMs);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
