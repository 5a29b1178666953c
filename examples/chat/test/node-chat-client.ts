import { type AssuredClient, createAssuredClient, type RecoveryOutcome } from "@assured/client";
import { io } from "socket.io-client";
import { type ChatMessage, roomStream, type SendResult } from "../src/chat-protocol.js";

/** One delivered chat event, as a handler saw it. */
export interface Delivery {
  offset: number;
  epoch: string;
  id: string;
  text: string;
}

/**
 * A chat participant in Node: an Assured client (memory storage, which outlives the server
 * process it talks to) subscribed to one room, recording every delivery and outcome.
 */
export class NodeChatClient {
  readonly client: AssuredClient;
  readonly deliveries: Delivery[] = [];
  readonly outcomes: RecoveryOutcome[] = [];
  readonly errors: string[] = [];
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(url: string, room: string) {
    const socket = io(url, {
      autoConnect: false,
      transports: ["websocket"],
      reconnectionDelay: 50,
      reconnectionDelayMax: 250,
    });
    this.client = createAssuredClient(socket, {
      ackTimeoutMs: 2_000,
      retry: { initialMs: 50, maxMs: 500, factor: 2 },
      positionCheckIntervalMs: 500,
    });
    this.client.on<ChatMessage>("chat:message", (data, meta) => {
      this.deliveries.push({
        offset: meta.offset,
        epoch: meta.epoch,
        id: meta.id,
        text: data.text,
      });
      this.#waiters = this.#waiters.filter((w) => {
        if (this.deliveries.length < w.count) return true;
        w.resolve();
        return false;
      });
    });
    this.client.onRecovery((outcome) => this.outcomes.push(outcome));
    this.client.onError((error) => this.errors.push(`${error.code}: ${error.message}`));
    this.client.subscribe(roomStream(room), { from: "earliest" });
  }

  /** Connects; the client id is known once this resolves. */
  async connect(): Promise<string> {
    await this.client.connect();
    return this.client.clientId as string;
  }

  /** Sends a chat message with a chosen idempotency id; resolves with its offset. */
  send(room: string, text: string, id: string): Promise<SendResult> {
    return this.client.emit<SendResult>("chat:send", { room, author: "node", text }, { id });
  }

  /** Resolves once `count` events have been delivered. */
  delivered(count: number): Promise<void> {
    if (this.deliveries.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
