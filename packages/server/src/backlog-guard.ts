import createDebug from "debug";
import type { AssuredLimits } from "./limits.js";
import type { AnySocket } from "./wire.js";

const log = createDebug("assured:server");

/** What Assured reads of an engine.io packet. */
interface EnginePacket {
  data?: unknown;
}

/** What Assured uses of an engine.io transport (`websocket`, `polling`, `webtransport`). */
interface EngineTransport {
  /** The `ws` WebSocket of the `websocket` transport. */
  socket?: { bufferedAmount?: unknown; terminate?: () => void };
  /** False while a send is in progress (until its `drain`). */
  writable?: boolean;
  on(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
}

/** What Assured uses of an engine.io `Socket` (one per connection, shared by its namespaces). */
interface EngineConnection {
  readonly readyState: string;
  readonly writeBuffer: unknown[];
  readonly transport: EngineTransport;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  close(discard?: boolean): unknown;
}

const METER = Symbol("assured.meter");

/**
 * Bounds what the server buffers for one connection (G11) and tells when bytes Assured wrote
 * have left the server's buffers. One per engine.io connection, kept on the connection object.
 *
 * - Backlog: engine.io queues packets in `writeBuffer` while the transport is busy; the
 *   WebSocket holds what the kernel did not take yet (`bufferedAmount`). The meter adds up the
 *   queued packets' sizes as they are created (string length or binary byte length) and drops
 *   them when engine.io flushes its buffer to the transport. Every new packet (a live batch, a
 *   replay page, a reply, a ping) checks the total: beyond `maxSocketBacklogBytes` bytes or
 *   `maxSocketBacklog` packets the connection is closed at once (its buffers are discarded and
 *   the WebSocket terminated, so the memory is freed now, not after a close handshake the
 *   client would never read). The client reconnects and recovers by replay (G5).
 * - Written: packets are numbered as they are created; a flush hands everything created so far
 *   to the transport, which emits `drain` once it wrote them all (to the kernel, for a
 *   WebSocket). `afterWritten(mark(), fn)` calls `fn` once the packets created up to now are
 *   written, or the connection closed.
 * - Write deadline: bytes that hold a replay/fetch budget until written carry a deadline
 *   (`afterWritten(mark, fn, deadline, watchdog)`). A connection that has not written them by
 *   then (a peer that stopped reading) is closed like a backlog overflow, which gives the bytes
 *   back; the server-wide `WriteWatchdog` checks it, so one peer cannot pin the server's
 *   `maxReplayBytesInFlight` share it holds until engine.io's heartbeat closes the connection.
 *
 * O(1) per packet, no timer of its own.
 */
export class ConnectionMeter {
  readonly #conn: EngineConnection;
  readonly #maxPackets: number;
  readonly #maxBytes: number;
  /** Packets created on the connection so far. */
  #created = 0;
  /** Packets known to be written. */
  #written = 0;
  /** Bytes of the packets in engine.io's write buffer. */
  #queuedBytes = 0;
  /** For each flush not drained yet: the packets created up to it. */
  #flushes: number[] = [];
  /** Callbacks waiting for a mark to be written, in mark order. */
  #waiting: { mark: number; written: () => void; deadline: number }[] = [];
  #transport: EngineTransport;
  #closed = false;
  #closing = false;
  readonly #listeners: [string, (...args: never[]) => void][];

  constructor(
    conn: EngineConnection,
    limits: Pick<AssuredLimits, "maxSocketBacklog" | "maxSocketBacklogBytes">,
  ) {
    this.#conn = conn;
    this.#maxPackets = limits.maxSocketBacklog;
    this.#maxBytes = limits.maxSocketBacklogBytes;
    this.#transport = conn.transport;
    this.#queuedBytes = conn.writeBuffer.reduce<number>(
      (sum, packet) => sum + sizeOf((packet as EnginePacket).data),
      0,
    );
    this.#listeners = [
      ["packetCreate", (packet: EnginePacket) => this.#onPacket(packet)],
      ["flush", () => this.#onFlush()],
      ["upgrade", (transport: EngineTransport) => this.#onUpgrade(transport)],
      ["close", (reason: string) => this.#onClose(reason)],
    ];
    if (conn.readyState === "closed") {
      this.#closed = true;
      return;
    }
    // A send still in progress (the handshake's packets) drains before anything counted here.
    if (this.#transport.writable === false) this.#flushes.push(0);
    for (const [event, listener] of this.#listeners) conn.on(event, listener);
    this.#transport.on("drain", this.#onDrain);
  }

  /** Bytes the connection holds unsent now: engine.io's write buffer plus the WebSocket's. */
  get unsentBytes(): number {
    const buffered = this.#transport.socket?.bufferedAmount;
    return this.#queuedBytes + (typeof buffered === "number" ? buffered : 0);
  }

  /** A mark covering every packet created so far (take it right after writing). */
  mark(): number {
    return this.#created;
  }

  /**
   * Calls `written` once every packet up to `mark` left the server's buffers, or the connection
   * closed. With a `deadline` (a `performance.now()` time: monotonic, so a step of the wall
   * clock neither closes every such connection nor keeps one open for the size of the step) and
   * a `watchdog`, the connection is closed if the packets are still unwritten at the deadline
   * (the peer stopped reading); `written` is then called as the connection closes.
   */
  afterWritten(
    mark: number,
    written: () => void,
    deadline = Number.POSITIVE_INFINITY,
    watchdog?: WriteWatchdog,
  ): void {
    if (this.#closed || mark <= this.#written) {
      written();
      return;
    }
    // Kept in mark order (marks may come back out of order, e.g. a page granted late).
    let at = this.#waiting.length;
    while (at > 0 && this.#waiting[at - 1]!.mark > mark) at--;
    this.#waiting.splice(at, 0, { mark, written, deadline });
    if (watchdog !== undefined && deadline !== Number.POSITIVE_INFINITY) watchdog.watch(this);
  }

  /**
   * Checked by the `WriteWatchdog`: closes the connection if some bytes waiting to be written
   * are past their deadline. Returns whether anything with a deadline is still waiting.
   */
  checkDeadline(now: number): boolean {
    if (this.#closed) return false;
    let due = Number.POSITIVE_INFINITY;
    for (const { deadline } of this.#waiting) due = Math.min(due, deadline);
    if (due === Number.POSITIVE_INFINITY) return false;
    if (due > now || this.#closing) return true;
    this.#closing = true;
    log(
      "connection %s did not write its replay/fetch bytes within their deadline (%d unsent bytes); closing it",
      (this.#conn as { id?: string }).id,
      this.unsentBytes,
    );
    this.#close();
    return !this.#closed;
  }

  #onPacket(packet: EnginePacket): void {
    this.#created++;
    this.#queuedBytes += sizeOf(packet.data);
    // The packet is pushed to the write buffer right after this event.
    this.#check(this.#conn.writeBuffer.length + 1);
  }

  #onFlush(): void {
    this.#queuedBytes = 0;
    this.#flushes.push(this.#created);
  }

  readonly #onDrain = (): void => {
    const upTo = this.#flushes.shift();
    if (upTo !== undefined) this.#wrote(upTo);
  };

  #onUpgrade(transport: EngineTransport): void {
    // What the old transport was given went out with it (or is gone with it).
    const upTo = this.#flushes.at(-1);
    this.#flushes = [];
    if (upTo !== undefined) this.#wrote(upTo);
    this.#transport.off("drain", this.#onDrain);
    this.#transport = transport;
    transport.on("drain", this.#onDrain);
  }

  /** Stops watching (Assured is closing); waiting callbacks are called now. */
  dispose(): void {
    if (!this.#closed) this.#detach();
  }

  #onClose(reason: string): void {
    // The peer left or stopped answering (not a close the server asked for, which lets the
    // buffers drain): drop what it never read now, not after a 30 s close handshake.
    if (reason !== "forced close") this.#terminate();
    this.#detach();
  }

  #detach(): void {
    this.#closed = true;
    for (const [event, listener] of this.#listeners) this.#conn.off(event, listener);
    this.#transport.off("drain", this.#onDrain);
    this.#flushes = [];
    this.#queuedBytes = 0;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const { written } of waiting) written();
  }

  #wrote(upTo: number): void {
    this.#written = Math.max(this.#written, upTo);
    let done = 0;
    while (done < this.#waiting.length && this.#waiting[done]!.mark <= this.#written) done++;
    if (done === 0) return;
    const ready = this.#waiting.splice(0, done);
    for (const { written } of ready) written();
  }

  #check(packets: number): void {
    if (this.#closing || this.#closed) return;
    const bytes = this.unsentBytes;
    if (packets <= this.#maxPackets && bytes <= this.#maxBytes) return;
    this.#closing = true;
    log(
      "connection %s holds %d unsent packets, %d bytes (maxSocketBacklog %d, maxSocketBacklogBytes %d); closing it",
      (this.#conn as { id?: string }).id,
      packets,
      bytes,
      this.#maxPackets,
      this.#maxBytes,
    );
    // After the packet being created is queued (never close engine.io from inside its send).
    queueMicrotask(() => this.#close());
  }

  /**
   * The client disconnected its last namespace (it is going away): what it has not read yet is
   * dropped now instead of lingering in the WebSocket's close handshake.
   */
  clientLeft(): void {
    if (this.#closed || this.unsentBytes === 0) return;
    log("connection %s left with unsent bytes; dropping them", (this.#conn as { id?: string }).id);
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    // Discard the backlog instead of waiting for it to drain (it never will), and drop the raw
    // WebSocket at once so its buffered bytes are freed too.
    const transport = this.#conn.transport;
    this.#conn.close(true);
    this.#terminate(transport);
  }

  /** Destroys the raw WebSocket if it still holds unsent bytes (or always, given its transport). */
  #terminate(transport?: EngineTransport): void {
    const ws = (transport ?? this.#transport).socket;
    if (typeof ws?.terminate !== "function") return;
    if (transport === undefined && !(Number(ws.bufferedAmount) > 0)) return;
    ws.terminate();
  }
}

/**
 * Checks the write deadlines of every connection holding replay/fetch bytes (see
 * `ConnectionMeter.afterWritten`): one unref'd timer for the whole server, every
 * `min(limitMs / 4, 1 s)`, running only while some connection holds such bytes.
 */
export class WriteWatchdog {
  readonly #periodMs: number;
  readonly #meters = new Set<ConnectionMeter>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `limitMs`: the shortest deadline it watches (a deadline is missed by at most a quarter of it, or 1 s). */
  constructor(limitMs: number) {
    this.#periodMs = Math.max(10, Math.min(1_000, Math.ceil(limitMs / 4)));
  }

  /** Connections watched now. */
  get watching(): number {
    return this.#meters.size;
  }

  /** Watches the meter until nothing with a deadline waits on it. */
  watch(meter: ConnectionMeter): void {
    this.#meters.add(meter);
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(performance.now()), this.#periodMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Closes the connections past a deadline; stops once none holds anything with a deadline. */
  check(now: number): void {
    for (const meter of [...this.#meters]) {
      if (!meter.checkDeadline(now)) this.#meters.delete(meter);
    }
    if (this.#meters.size === 0) this.stop();
  }

  /** Stops the timer and forgets every connection (Assured is closing). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#meters.clear();
  }
}

/** The meter of a socket's connection, created on first use. */
export function connectionMeter(
  socket: AnySocket,
  limits: Pick<AssuredLimits, "maxSocketBacklog" | "maxSocketBacklogBytes">,
): ConnectionMeter {
  const holder = socket.conn as unknown as { [METER]?: ConnectionMeter };
  let meter = holder[METER];
  if (meter === undefined) {
    const created = new ConnectionMeter(socket.conn as unknown as EngineConnection, limits);
    meter = created;
    Object.defineProperty(holder, METER, { value: meter, enumerable: false, configurable: true });
    socket.once("disconnect", (reason: string) => {
      const others = (socket.client as unknown as { sockets?: Map<unknown, unknown> }).sockets;
      if (reason === "client namespace disconnect" && others?.size === 0) created.clientLeft();
    });
  }
  return meter;
}

/** Stops the meter of a socket's connection, if it has one (Assured is closing). */
export function disposeConnectionMeter(socket: AnySocket): void {
  const holder = socket.conn as unknown as { [METER]?: ConnectionMeter };
  holder[METER]?.dispose();
  delete holder[METER];
}

/** Bytes of a packet's data: a string's length, a binary's byte length. */
function sizeOf(data: unknown): number {
  if (typeof data === "string") return data.length;
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
