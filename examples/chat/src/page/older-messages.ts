import type { AssuredClient, HistoryEvent } from "@assured/client/browser";
import { type ChatMessage, roomStream } from "../chat-protocol.js";
import type { RoomHistory, ShownMessage } from "./room-history.js";

/** Messages per page: what a first visit shows, and what each scroll to the top adds. */
export const PAGE_SIZE = 50;

/**
 * Loads a room's older messages with `client.history`, one page at a time: the stream's log is
 * read directly, so the room's subscription (its position and live delivery) is not involved.
 * At most one page per room is loading at a time.
 */
export class OlderMessages {
  readonly #client: Pick<AssuredClient, "history">;
  readonly #historyOf: (room: string) => RoomHistory;
  readonly #loaded: (room: string) => void;
  readonly #loading = new Set<string>();

  constructor(
    client: Pick<AssuredClient, "history">,
    historyOf: (room: string) => RoomHistory,
    loaded: (room: string) => void,
  ) {
    this.#client = client;
    this.#historyOf = historyOf;
    this.#loaded = loaded;
  }

  /**
   * Loads the page below `before` (default: below the oldest message shown), unless one is
   * loading or nothing older is left; `loaded(room)` is called when it added messages.
   */
  async load(room: string, before?: number): Promise<void> {
    const history = this.#historyOf(room);
    const below = before ?? history.oldest;
    if (this.#loading.has(room) || !history.hasOlder || below === 1) return;
    this.#loading.add(room);
    try {
      const page = await this.#client.history<ChatMessage>(
        roomStream(room),
        below === undefined ? { limit: PAGE_SIZE } : { before: below, limit: PAGE_SIZE },
      );
      const added = history.addOlder(page.epoch, page.events.map(shown), !page.more);
      if (added > 0) this.#loaded(room);
    } catch (error) {
      // Offline or refused: the next scroll to the top tries again.
      console.warn("[chat] could not load older messages:", error);
    } finally {
      this.#loading.delete(room);
    }
  }
}

function shown(event: HistoryEvent<ChatMessage>): ShownMessage {
  const { offset, id, time, data } = event;
  return { offset, id, author: data.author, text: data.text, time };
}
