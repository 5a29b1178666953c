import { MemoryEventStore, type MemoryEventStoreOptions } from "@assured/core";
import type { AppendEntry, AppendResult, EventStore, ReadOptions } from "@assured/core/store";

/**
 * A real `MemoryEventStore` with switches for failures a real backend has: it can be down
 * (every call throws like a driver does) or slow (appends wait until let through). It also
 * counts appends, to observe group commit.
 */
export class FaultyStore implements EventStore {
  readonly inner: MemoryEventStore;
  readonly capabilities;
  down = false;
  appendCalls: number[] = [];
  #held: (() => void)[] | undefined;
  #onHeld: (() => void)[] = [];

  constructor(options: MemoryEventStoreOptions = {}) {
    this.inner = new MemoryEventStore(options);
    this.capabilities = this.inner.capabilities;
  }

  /** Makes appends wait until `release()`. */
  hold(): void {
    this.#held = [];
  }

  /** Lets held appends through. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const go of held) go();
  }

  /** Appends waiting in `hold()`. */
  get heldAppends(): number {
    return this.#held?.length ?? 0;
  }

  /** Resolves once `count` appends are waiting in `hold()`. */
  async waitForHeld(count: number): Promise<void> {
    while (this.heldAppends < count) {
      await new Promise<void>((resolve) => this.#onHeld.push(resolve));
    }
  }

  async append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.appendCalls.push(entries.length);
    if (this.#held !== undefined) {
      const held = this.#held;
      const waiting = new Promise<void>((resolve) => held.push(resolve));
      for (const notify of this.#onHeld.splice(0)) notify();
      await waiting;
    }
    this.#check();
    return this.inner.append(stream, entries);
  }

  async read(stream: string, options: ReadOptions) {
    this.#check();
    return this.inner.read(stream, options);
  }

  async head(stream: string) {
    this.#check();
    return this.inner.head(stream);
  }

  reset(stream: string) {
    return this.inner.reset(stream);
  }

  close() {
    return this.inner.close();
  }

  #check(): void {
    if (this.down) throw new Error("connect ECONNREFUSED 127.0.0.1:6379");
  }
}
