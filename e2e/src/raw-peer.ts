import { encode } from "@assured/core";
import { FRAMES, type MessageReply } from "@assured/core/protocol";
import { newId } from "@assured/core/store";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { Changes } from "./changes.js";

/** One frame a raw peer received. */
export interface ReceivedFrame {
  event: string;
  args: unknown[];
}

/**
 * A bare socket.io-client socket that speaks (or mangles) Assured's frames by hand, the way a
 * hostile or buggy client would, and records every frame the server sends it. Replay batches
 * are acknowledged as they arrive.
 */
export class RawPeer {
  readonly socket: Socket;
  readonly received: ReceivedFrame[] = [];
  readonly changes: Changes;

  constructor(
    url: string,
    auth: Record<string, unknown> | undefined,
    options: Partial<ManagerOptions & SocketOptions> = {},
  ) {
    this.changes = new Changes();
    this.socket = io(url, {
      autoConnect: false,
      reconnection: false,
      forceNew: true,
      transports: ["websocket"],
      ...(auth === undefined ? {} : { auth }),
      ...options,
    });
    this.socket.onAny((event: string, ...args: unknown[]) => {
      const last = args.at(-1);
      if (typeof last === "function") {
        args.pop();
        (last as () => void)();
      }
      this.received.push({ event, args });
      this.changes.notify();
    });
    this.socket.on("connect", () => this.changes.notify());
    this.socket.on("disconnect", () => this.changes.notify());
  }

  /** Connects and resolves once connected. */
  async connect(): Promise<this> {
    this.socket.connect();
    await this.changes.until(() => this.socket.connected, { what: "the raw peer to connect" });
    return this;
  }

  /** First arguments of every received frame of one event. */
  frames<T = Record<string, unknown>>(event: string): T[] {
    return this.received.filter((f) => f.event === event).map((f) => f.args[0] as T);
  }

  /**
   * Sends a frame without an ack and resolves with the next frame of `reply` the server sends
   * after it (for frames answered by `assured:error` or `assured:sub-error`).
   */
  async sendExpecting<T = Record<string, unknown>>(
    reply: string,
    event: string,
    ...args: unknown[]
  ): Promise<T> {
    const before = this.frames(reply).length;
    this.socket.emit(event, ...args);
    return this.changes.until(() => this.frames<T>(reply)[before], {
      timeoutMs: 5_000,
      what: `a "${reply}" frame after "${event}"`,
    });
  }

  /** Sends a frame with an ack and resolves with the reply. */
  request<T = Record<string, unknown>>(event: string, ...args: unknown[]): Promise<T> {
    return this.socket.timeout(5_000).emitWithAck(event, ...args) as Promise<T>;
  }

  /** Sends a client message (`assured:msg`) and resolves with the server's reply. */
  send(name: string, data: unknown, id = newId(), seq = 1): Promise<MessageReply> {
    return this.request<MessageReply>(FRAMES.message, { id, seq, name, payload: encode(data) });
  }

  /**
   * A round trip through the server: once it resolves, every frame the server sent before
   * answering has arrived.
   */
  async roundTrip(): Promise<void> {
    await this.request("assured:heads", { streams: [] });
  }

  /** Disconnects. */
  close(): void {
    this.socket.disconnect();
  }
}
