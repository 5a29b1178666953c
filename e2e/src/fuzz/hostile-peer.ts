import { io, type Socket } from "socket.io-client";
import {
  ACKED_EVENTS,
  type EmitAction,
  fillEpochs,
  type PeerSession,
  type ReconnectAction,
} from "./arbitraries.js";
import { type FuzzContext, pause } from "./context.js";
import { checkReply, checkServerFrame, describe, sentField } from "./oracle.js";
import { asSent, principalOfAuth } from "./rules.js";

/** How long a request may wait for its ack on a live connection before it is "unanswered". */
export const ACK_TIMEOUT_MS = 15_000;
/** Most requests one peer keeps waiting for at once. */
const MAX_IN_FLIGHT = 64;

/**
 * Plays one generated `PeerSession` on a real `socket.io-client` socket: connects with the
 * session's handshake, emits its frames (acked or not, bursts, pauses, reconnects with another
 * token), and checks everything the server sends back against the oracle, attributing frames
 * to the principal of the connection they arrived on.
 */
export async function runPeerSession(
  ctx: FuzzContext,
  session: PeerSession,
  where: string,
): Promise<void> {
  const auth = fillEpochs(session.auth, ctx.epochOf) as Record<string, unknown>;
  const socket = io(ctx.url, {
    autoConnect: false,
    forceNew: true,
    transports: ["websocket"],
    reconnection: true,
    reconnectionAttempts: 2,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    timeout: 5_000,
    auth,
  });
  const peer = new PeerState(ctx, socket, principalOfAuth(asSent(auth)), where);
  ctx.frames.handshakes++;
  try {
    if (!(await peer.connect())) return;
    for (const [index, action] of session.actions.entries()) {
      if (ctx.stopped()) break;
      if (!socket.connected && !(await peer.waitConnected(1_000))) break;
      const at = `${where} action ${index}`;
      switch (action.kind) {
        case "emit":
          await peer.emit(action, at, session.ackBatches);
          break;
        case "pause":
          await pause(ctx, action.ms);
          break;
        case "reconnect":
          await peer.reconnect(action, auth);
          break;
      }
    }
    await peer.settle();
  } finally {
    socket.disconnect();
  }
}

class PeerState {
  readonly #ctx: FuzzContext;
  readonly #socket: Socket;
  /** Principal of the current connection (set when it connects). */
  #principal: string | undefined;
  /** Principal the next connection will have. */
  #nextPrincipal: string | undefined;
  /** Increases on every disconnect: an ack timeout on the same generation is "unanswered". */
  #generation = 0;
  #ackBatches = true;
  readonly #inFlight = new Set<Promise<void>>();
  /** How to give up on each request of the current connection (its ack is lost with it). */
  readonly #abandon = new Set<() => void>();
  /** Requests past their ack timeout on the current connection, still waiting for an answer. */
  readonly #overdue = new Set<{ where: string; event: string; frame: unknown; sentAt: number }>();

  constructor(ctx: FuzzContext, socket: Socket, principal: string | undefined, where: string) {
    this.#ctx = ctx;
    this.#socket = socket;
    this.#principal = principal;
    this.#nextPrincipal = principal;
    socket.on("connect", () => {
      this.#principal = this.#nextPrincipal;
    });
    socket.on("disconnect", () => {
      this.#generation++;
      this.#reportOverdue("then the connection closed");
      for (const abandon of [...this.#abandon]) abandon();
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      const last = args.at(-1);
      if (typeof last === "function") {
        args.pop();
        if (this.#ackBatches) (last as () => void)();
      }
      checkServerFrame(ctx.findings, `${where} (received)`, this.#principal, event, args[0]);
    });
  }

  /** Connects; false when the server refused or did not answer the handshake. */
  async connect(): Promise<boolean> {
    this.#socket.connect();
    return this.waitConnected(5_000);
  }

  async waitConnected(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.#socket.connected && Date.now() < until && !this.#ctx.stopped()) {
      await pause(this.#ctx, 20);
    }
    return this.#socket.connected;
  }

  async emit(action: EmitAction, where: string, ackBatches: boolean): Promise<void> {
    this.#ackBatches = ackBatches;
    const args = fillEpochs(action.args, this.#ctx.epochOf) as unknown[];
    // A flood is of small frames: hundreds of copies of a large one would only measure how
    // fast the fuzzer's two cores can serialize it.
    const repeat = action.repeat > 1 && approximateSize(args) > 4_096 ? 3 : action.repeat;
    for (let i = 0; i < repeat; i++) {
      if (!this.#socket.connected || this.#ctx.stopped()) return;
      while (this.#inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.#inFlight);
      this.#send(action.event, args, action.ack, where);
      // Let the socket write (and the server answer) during long bursts.
      if (i % 50 === 49) await pause(this.#ctx, 1);
    }
  }

  #send(event: string, args: unknown[], ack: boolean, where: string): void {
    // Never while disconnected: socket.io-client would buffer the frame and send it on the next
    // connection, which may have another principal than the one this frame is judged by.
    if (!this.#socket.connected) return;
    const principal = this.#principal;
    const frame = args[0];
    if (event === "assured:msg" && ack) {
      this.#ctx.findings.noteSentId(principal, sentField(frame, "id"));
    }
    try {
      if (!ack || !ACKED_EVENTS.has(event)) {
        // The server never acks other frames: an ack function is only one more argument.
        if (ack) this.#socket.emit(event, ...args, () => undefined);
        else this.#socket.emit(event, ...args);
        this.#ctx.frames.socketIo++;
        return;
      }
      this.#request(event, args, where, principal);
      this.#ctx.frames.socketIo++;
    } catch {
      // A value socket.io-client cannot serialize (it throws before sending): nothing was sent.
    }
  }

  /**
   * Sends a request with an ack. After `ACK_TIMEOUT_MS` on the same connection it is overdue:
   * an answer that comes later is reported with its delay, no answer at all when the
   * connection closes.
   */
  #request(event: string, args: unknown[], where: string, principal: string | undefined): void {
    const frame = args[0];
    const generation = this.#generation;
    const sentAt = Date.now();
    let settle!: () => void;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#inFlight.add(done);
    done.then(() => this.#inFlight.delete(done));
    const overdue = { where, event, frame, sentAt };
    let answered = false;
    const timer = setTimeout(() => {
      // Timers run before the poll phase: after a stall of the fuzzer's own event loop an
      // answer may be waiting unread in the socket. Decide after the poll phase.
      setImmediate(() => {
        if (answered) return;
        this.#abandon.delete(abandon);
        settle();
        if (generation === this.#generation && this.#socket.connected) this.#overdue.add(overdue);
      });
    }, ACK_TIMEOUT_MS);
    const abandon = () => {
      this.#abandon.delete(abandon);
      clearTimeout(timer);
      settle();
    };
    this.#abandon.add(abandon);
    let sent = false;
    try {
      this.#socket.emit(event, ...args, (reply: unknown) => {
        answered = true;
        this.#abandon.delete(abandon);
        clearTimeout(timer);
        settle();
        if (this.#overdue.delete(overdue)) {
          this.#ctx.findings.add(
            "unanswered",
            where,
            `${event} ${describe(frame, 200)} answered only after ${Date.now() - sentAt} ms`,
            "late",
          );
        }
        checkReply(this.#ctx.findings, where, principal, event, frame, reply);
      });
      sent = true;
    } finally {
      if (!sent) abandon();
    }
  }

  /** Reports the overdue requests of the connection as never answered. */
  #reportOverdue(why: string): void {
    for (const { where, event, frame, sentAt } of this.#overdue) {
      this.#ctx.findings.add(
        "unanswered",
        where,
        `${event} ${describe(frame, 200)} got no answer in ${Date.now() - sentAt} ms, ${why}`,
        "never",
      );
    }
    this.#overdue.clear();
  }

  async reconnect(action: ReconnectAction, auth: Record<string, unknown>): Promise<void> {
    const next = { ...auth };
    if (action.token === undefined) delete next.token;
    else next.token = action.token;
    this.#socket.auth = next;
    this.#nextPrincipal = principalOfAuth(asSent(next));
    this.#ctx.frames.handshakes++;
    if (action.viaEngineClose) {
      // The manager reconnects and offers the session id: connection state recovery.
      this.#socket.io.engine.close();
    } else {
      this.#socket.disconnect();
      this.#socket.connect();
    }
    await this.waitConnected(5_000);
  }

  /**
   * Waits for the requests still in flight (bounded by their ack timeout), and a while longer
   * for overdue ones (an answer after the timeout is still worth knowing about).
   */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0 && this.#socket.connected) {
      await Promise.race([...this.#inFlight, pause(this.#ctx, 200)]);
      if (this.#ctx.stopped()) return;
    }
    const until = Date.now() + ACK_TIMEOUT_MS;
    while (this.#overdue.size > 0 && this.#socket.connected && Date.now() < until) {
      await pause(this.#ctx, 200);
      if (this.#ctx.stopped()) return;
    }
    if (this.#socket.connected) this.#reportOverdue("and the fuzzer gave up waiting");
  }
}

/** A cheap upper-bound-ish size of what socket.io-client will serialize (JSON, binary lengths). */
function approximateSize(value: unknown, budget = 4_097): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size < budget) {
    const item = stack.pop();
    if (typeof item === "string") size += item.length + 2;
    else if (ArrayBuffer.isView(item)) size += item.byteLength;
    else if (Array.isArray(item)) {
      size += item.length + 2;
      for (let i = 0; i < item.length && i < budget; i++) stack.push(item[i]);
    } else if (typeof item === "object" && item !== null) {
      for (const [key, inner] of Object.entries(item)) {
        size += key.length + 4;
        stack.push(inner);
      }
    } else size += 8;
  }
  return size;
}
