/** A message as the page shows it. */
export interface ShownMessage {
  offset: number;
  /** The event id (`<clientId>:<messageId>` for page messages). */
  id: string;
  author: string;
  text: string;
  time: number;
}

interface StoredLog {
  epoch: string;
  /** The highest offset the user has seen in this room (for the unread count). */
  seen: number;
  messages: ShownMessage[];
}

/** Messages kept per room on this device (the newest; older ones are loaded again on demand). */
const MAX_KEPT = 300;

/**
 * The messages of one room kept in localStorage, so a reload shows the history at once: the
 * Assured client resumes from its saved position and only replays what came after it.
 * Messages are written in the event handler, before the position moves past them. Older
 * messages, read with `client.history` when the user scrolls up, join them (`addOlder`).
 */
export class RoomHistory {
  readonly #storage: Storage;
  readonly #key: string;
  #log: StoredLog;
  /** The oldest message the server retains is here: nothing older to load. */
  #complete = false;

  constructor(storage: Storage, room: string) {
    this.#storage = storage;
    this.#key = `chat:history:${room}`;
    this.#log = load(storage, this.#key);
  }

  /** The kept messages, oldest first. */
  get messages(): readonly ShownMessage[] {
    return this.#log.messages;
  }

  /** The offset of the oldest message here, if any. */
  get oldest(): number | undefined {
    return this.#log.messages[0]?.offset;
  }

  /** Whether older messages may still be loaded (`addOlder`). */
  get hasOlder(): boolean {
    return !this.#complete && this.oldest !== 1;
  }

  /** Messages after the last one the user saw. */
  get unread(): number {
    return this.#log.messages.filter((m) => m.offset > this.#log.seen).length;
  }

  /**
   * Adds a delivered message. A message of another epoch (the server's log was reset) starts
   * the history afresh; an offset already kept is ignored (a redelivery). Returns whether the
   * message is new.
   */
  add(epoch: string, message: ShownMessage): boolean {
    if (epoch !== this.#log.epoch) this.#restart(epoch);
    const list = this.#log.messages;
    const last = list[list.length - 1];
    if (last && message.offset <= last.offset) {
      if (list.some((m) => m.offset === message.offset)) return false;
      list.push(message);
      list.sort((a, b) => a.offset - b.offset);
    } else {
      list.push(message);
    }
    this.#save();
    return true;
  }

  /**
   * Adds a page of older messages (from `client.history`), which count as seen; `reachedStart`:
   * the server retains nothing older. A page of another epoch than the kept messages' (the
   * log was reset under them) is ignored and stops paging: the recovery banner offers to load it again. Returns
   * how many messages were new.
   */
  addOlder(epoch: string, messages: readonly ShownMessage[], reachedStart: boolean): number {
    if (this.#log.messages.length === 0 && epoch !== this.#log.epoch) this.#restart(epoch);
    if (epoch !== this.#log.epoch) {
      // Paging this log further would only fetch more pages of the other epoch.
      this.#complete = true;
      return 0;
    }
    if (reachedStart) this.#complete = true;
    const list = this.#log.messages;
    const kept = new Set(list.map((m) => m.offset));
    const fresh = messages.filter((m) => !kept.has(m.offset));
    if (fresh.length === 0) return 0;
    list.push(...fresh);
    list.sort((a, b) => a.offset - b.offset);
    this.#log.seen = Math.max(this.#log.seen, ...fresh.map((m) => m.offset));
    this.#save();
    return fresh.length;
  }

  /** Whether an event id is among the kept messages. */
  has(id: string): boolean {
    return this.#log.messages.some((m) => m.id === id);
  }

  /** Marks everything kept as seen. */
  markSeen(): void {
    const last = this.#log.messages[this.#log.messages.length - 1];
    if (!last || last.offset <= this.#log.seen) return;
    this.#log.seen = last.offset;
    this.#save();
  }

  /** Forgets every kept message (before a resync from the start of the log). */
  clear(): void {
    this.#restart("");
    this.#storage.removeItem(this.#key);
  }

  #restart(epoch: string): void {
    this.#log = { epoch, seen: 0, messages: [] };
    this.#complete = false;
  }

  #save(): void {
    const { messages } = this.#log;
    const log = { ...this.#log, messages: messages.slice(Math.max(0, messages.length - MAX_KEPT)) };
    try {
      this.#storage.setItem(this.#key, JSON.stringify(log));
    } catch {
      // Storage full: the page still shows the message, but it is not kept for the next visit.
    }
  }
}

function load(storage: Storage, key: string): StoredLog {
  try {
    const value = JSON.parse(storage.getItem(key) ?? "null") as StoredLog | null;
    if (value && typeof value.epoch === "string" && Array.isArray(value.messages)) return value;
  } catch {
    // A damaged entry: start empty.
  }
  return { epoch: "", seen: 0, messages: [] };
}
