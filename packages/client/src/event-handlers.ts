import type { Epoch, Offset, StreamName } from "@assured/core";

/** What a handler learns about the event beside its data. */
export interface EventMeta {
  stream: StreamName;
  offset: Offset;
  epoch: Epoch;
  /** The event's id, unique within the stream: use it to make a handler idempotent (G3 note). */
  id: string;
  name: string;
  /** Append time, ms since the Unix epoch. */
  time: number;
}

/** An event handler; the stream's position advances only after the returned promise resolves. */
export type EventHandler<T = unknown> = (data: T, meta: EventMeta) => void | Promise<void>;

/** Handlers by event name; each name may have several, run in registration order. */
export class EventHandlers {
  readonly #byName = new Map<string, EventHandler[]>();

  /** Adds a handler; returns a function that removes it. */
  add(name: string, handler: EventHandler): () => void {
    // Copy on write: a delivery iterating the old list is not affected.
    this.#byName.set(name, [...(this.#byName.get(name) ?? []), handler]);
    return () => this.remove(name, handler);
  }

  /** Removes a handler (all registrations of it for the name). */
  remove(name: string, handler: EventHandler): void {
    const list = this.#byName.get(name)?.filter((h) => h !== handler) ?? [];
    if (list.length === 0) this.#byName.delete(name);
    else this.#byName.set(name, list);
  }

  /** A snapshot of the handlers for a name. */
  for(name: string): readonly EventHandler[] {
    return this.#byName.get(name) ?? [];
  }
}
