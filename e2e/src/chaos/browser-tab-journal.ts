import type { TabLine } from "./browser-tab-protocol.js";

const NEXT_KEY = "chaos-journal:next";
const BATCH_PREFIX = "chaos-journal:";

/**
 * The chaos tab page's record of the lines it sent (runs in the page): each batch is numbered
 * and kept in `localStorage` (synchronous, so kept before the task that logged it ends) until
 * the Node side acknowledges it; a new page life sends again what the Node side did not take.
 * Numbers go on across page lives.
 */
export class TabJournal {
  readonly #storage: Storage;
  readonly #send: (seq: number, lines: TabLine[]) => void;
  #next: number;
  /** Batches up to this one are acknowledged and deleted. */
  #trimmed = 0;

  constructor(storage: Storage, send: (seq: number, lines: TabLine[]) => void) {
    this.#storage = storage;
    this.#send = send;
    this.#next = Number(storage.getItem(NEXT_KEY) ?? "1");
  }

  /** Sends again every kept batch after `received` (in order), and forgets those up to it. */
  resend(received: number): void {
    this.ack(received);
    for (let seq = received + 1; seq < this.#next; seq++) {
      const text = this.#storage.getItem(`${BATCH_PREFIX}${seq}`);
      if (text !== null) this.#send(seq, JSON.parse(text) as TabLine[]);
    }
  }

  /** Keeps `lines` as the next batch, then sends it. */
  write(lines: TabLine[]): void {
    const seq = this.#next++;
    this.#storage.setItem(`${BATCH_PREFIX}${seq}`, JSON.stringify(lines));
    this.#storage.setItem(NEXT_KEY, String(this.#next));
    this.#send(seq, lines);
  }

  /** Forgets the batches up to `seq`: the Node side has them. */
  ack(seq: number): void {
    if (this.#trimmed === 0) {
      // First ack of this page life: earlier lives may have left batches of any number.
      for (let s = seq; s > 0 && this.#storage.getItem(`${BATCH_PREFIX}${s}`) !== null; s--) {
        this.#storage.removeItem(`${BATCH_PREFIX}${s}`);
      }
    } else {
      for (let s = this.#trimmed + 1; s <= seq; s++) {
        this.#storage.removeItem(`${BATCH_PREFIX}${s}`);
      }
    }
    this.#trimmed = Math.max(this.#trimmed, seq);
  }
}
