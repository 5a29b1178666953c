import { batchReplies, FRAMES, type MessageReply } from "@assured/core/protocol";
import type { AnySocket } from "./wire.js";

/**
 * The replies to a socket's `assured:msgs` messages, sent together (DESIGN §8, "frames are
 * cheap"): every reply known by the end of the current turn of the event loop goes in one
 * `assured:replies` packet (split by `batchReplies` when large). A reply is only ever queued
 * once its response is stored, so batching delays no guarantee, only the packet.
 */
export class ReplyBatcher {
  readonly #socket: AnySocket;
  #replies: MessageReply[] = [];
  #scheduled = false;

  constructor(socket: AnySocket) {
    this.#socket = socket;
  }

  /** Queues a reply; it leaves with the others of this turn. */
  push(reply: MessageReply): void {
    this.#replies.push(reply);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const replies = this.#replies;
    this.#replies = [];
    // A disconnected socket drops what it emits; its client sends the messages again.
    for (const frame of batchReplies(replies)) this.#socket.emit(FRAMES.replies, frame);
  }
}
