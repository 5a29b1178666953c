import type { MessageReply } from "@assured/core/protocol";

/** A turn's place in its socket's reply order (`ReplyOrder.open`). */
export interface ReplySlot {
  /** The reply once known; `null` once the turn ended without one. */
  reply: MessageReply | null | undefined;
  /** Sends the reply. */
  ack: (reply: MessageReply) => void;
  /** Called once the slot left the order: its reply sent (or none), after every earlier slot's. */
  left: () => void;
}

/**
 * The replies to a socket's messages, sent in the order their turns began (G10): a turn whose
 * reply is known waits for the earlier turns' replies (one may still wait for its response to
 * be stored). A queue of slots instead of a promise chained per message.
 */
export class ReplyOrder {
  #slots: ReplySlot[] = [];
  #head = 0;
  #flushing = false;
  readonly #onError: (error: unknown) => void;

  /** `onError` hears what a slot's `ack` or `left` throws; the later replies are sent anyway. */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** A slot for the next turn, at the end of the order. */
  open(ack: (reply: MessageReply) => void, left: () => void): ReplySlot {
    const slot: ReplySlot = { reply: undefined, ack, left };
    this.#slots.push(slot);
    return slot;
  }

  /** Gives the slot its reply (only the first counts) and sends every reply now due, in order. */
  answer(slot: ReplySlot, reply: MessageReply): void {
    if (slot.reply !== undefined) return;
    slot.reply = reply;
    this.#flush();
  }

  /** The slot's turn ended without a reply: later replies no longer wait for it. */
  skip(slot: ReplySlot): void {
    if (slot.reply !== undefined) return;
    slot.reply = null;
    this.#flush();
  }

  #flush(): void {
    // A reply sent from a `left` callback is sent by the loop already running.
    if (this.#flushing) return;
    this.#flushing = true;
    // A callback that throws must not keep the later replies waiting: every slot due leaves,
    // each error goes to `onError`.
    try {
      while (this.#head < this.#slots.length) {
        const slot = this.#slots[this.#head]!;
        if (slot.reply === undefined) break;
        this.#head++;
        try {
          if (slot.reply !== null) slot.ack(slot.reply);
        } catch (error) {
          this.#onError(error);
        }
        try {
          slot.left();
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      this.#flushing = false;
      if (this.#head === this.#slots.length) {
        this.#slots = [];
        this.#head = 0;
      } else if (this.#head >= 1024) {
        this.#slots = this.#slots.slice(this.#head);
        this.#head = 0;
      }
    }
  }
}
