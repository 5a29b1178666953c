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

/** Messages kept per room on this device. */
const MAX_KEPT = 300;

/**
 * The messages of one room kept in localStorage, so a reload shows the history at once: the
 * Assured client resumes from its saved position and only replays what came after it.
 * Messages are written in the event handler, before the position moves past them.
 */
export class RoomHistory {
  readonly #storage: Storage;
  readonly #key: string;
  #log: StoredLog;

  constructor(storage: Storage, room: string) {
    this.#storage = storage;
    this.#key = `chat:history:${room}`;
    this.#log = load(storage, this.#key);
  }

  /** The kept messages, oldest first. */
  get messages(): readonly ShownMessage[] {
    return this.#log.messages;
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
    if (epoch !== this.#log.epoch) this.#log = { epoch, seen: 0, messages: [] };
    const list = this.#log.messages;
    const last = list[list.length - 1];
    if (last && message.offset <= last.offset) {
      if (list.some((m) => m.offset === message.offset)) return false;
      list.push(message);
      list.sort((a, b) => a.offset - b.offset);
    } else {
      list.push(message);
    }
    if (list.length > MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
    this.#save();
    return true;
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
    this.#log = { epoch: "", seen: 0, messages: [] };
    this.#storage.removeItem(this.#key);
  }

  #save(): void {
    try {
      this.#storage.setItem(this.#key, JSON.stringify(this.#log));
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
