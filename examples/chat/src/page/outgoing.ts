/** A message this page sent, until it shows up in its room's history. */
export interface OutgoingMessage {
  /** The Assured message id (the idempotency key given to `client.emit`). */
  id: string;
  room: string;
  author: string;
  text: string;
  createdAt: number;
  /** `pending`: not acknowledged yet; `sent`: handled, not delivered back yet; `failed`: refused. */
  state: "pending" | "sent" | "failed";
  /** Why the server refused it. */
  error?: string;
}

const KEY = "chat:outgoing";
/** Most outgoing messages kept (the Assured outbox holds at most 1000 by default). */
const MAX_KEPT = 1000;

/**
 * The text of messages sent from this device, kept in localStorage next to the Assured outbox
 * (which keeps the encoded message, not something to show): after a reload the page still shows
 * each unacknowledged message, greyed, where it will appear.
 */
export class OutgoingMessages {
  readonly #storage: Storage;
  readonly #messages: Map<string, OutgoingMessage>;

  constructor(storage: Storage) {
    this.#storage = storage;
    this.#messages = new Map(load(storage).map((m) => [m.id, m]));
  }

  /** Every kept message, in the order they were written. */
  all(): OutgoingMessage[] {
    return [...this.#messages.values()];
  }

  /** The kept messages of one room, in the order they were written. */
  inRoom(room: string): OutgoingMessage[] {
    return this.all().filter((m) => m.room === room);
  }

  get(id: string): OutgoingMessage | undefined {
    return this.#messages.get(id);
  }

  /** Keeps a message before it is handed to `client.emit`. */
  add(message: OutgoingMessage): void {
    this.#messages.set(message.id, message);
    while (this.#messages.size > MAX_KEPT) {
      this.#messages.delete(this.#messages.keys().next().value as string);
    }
    this.#save();
  }

  /** Changes a kept message's state. */
  update(id: string, change: Partial<Pick<OutgoingMessage, "state" | "error">>): void {
    const message = this.#messages.get(id);
    if (!message) return;
    Object.assign(message, change);
    this.#save();
  }

  /** Forgets a message (it reached the room's history, or the user dismissed it). */
  remove(id: string): void {
    if (this.#messages.delete(id)) this.#save();
  }

  #save(): void {
    try {
      this.#storage.setItem(KEY, JSON.stringify(this.all()));
    } catch {
      // Storage full: the Assured outbox still has the message; only its greyed copy may be lost.
    }
  }
}

function load(storage: Storage): OutgoingMessage[] {
  try {
    const value = JSON.parse(storage.getItem(KEY) ?? "[]") as unknown;
    return Array.isArray(value) ? (value as OutgoingMessage[]) : [];
  } catch {
    return [];
  }
}
