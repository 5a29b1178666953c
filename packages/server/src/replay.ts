import {
  type BatchFrame,
  FRAMES,
  packRecords,
  type SubscribedFrame,
  toStoreError,
} from "@assured/core";
import createDebug from "debug";
import { chunkByBytes } from "./batch-chunks.js";
import {
  frameReservation,
  meterOf,
  recordsBytes,
  releaseWhenWritten,
  socketBudget,
} from "./budgets.js";
import type { Grant, SocketBudget } from "./byte-budget.js";
import type { ServerContext } from "./context.js";
import type { AnySocket } from "./wire.js";

const log = createDebug("assured:server:replay");

/** A replay to send: events `(start, head]` of one epoch of a stream. */
export interface ReplayRange {
  stream: string;
  epoch: string;
  start: number;
  head: number;
}

/** Why a replay stopped early. */
export type ReplayStop = "done" | "superseded" | "epoch" | "trimmed" | "unacked" | "store";

/**
 * Sends a subscription's replay (G5): reads the store in pages of `replayBatchSize`, sends each
 * page as `assured:batch` frames with an ack (split so none carries more than `maxBatchBytes` of
 * payloads), and keeps at most `replayWindow` frames unacked (flow control: a slow client slows
 * the replay instead of filling memory).
 *
 * Bytes are budgeted too (G11): before each store read the replay reserves a frame's worth of
 * the socket's `maxSocketReplayBytes` and the server's `maxReplayBytesInFlight`, waiting in line
 * while they are spent; a frame holds its bytes until the client acks it, or after an ack
 * timeout until it left the server's buffers (a connection that has not written it by then,
 * `replayAckTimeoutMs` after its emit, is closed: the peer stopped reading). The replay never holds a page while it waits:
 * when the window is full or the next frame of a page does not fit at once, the rest of the
 * page is dropped and read again later.
 *
 * Stops when the subscription is no longer current, and at the first frame not acked within
 * `replayAckTimeoutMs`: `stop` aborting (superseded, unsubscribed, socket gone) or a timeout ends
 * every wait at once. If the log was trimmed under the replay, sends a second
 * `assured:subscribed` with `recovered: false, reason: "trimmed"` instead of a silent partial
 * replay (G6).
 */
export async function replay(
  ctx: ServerContext,
  socket: AnySocket,
  range: ReplayRange,
  isCurrent: () => boolean,
  stop: AbortSignal,
): Promise<ReplayStop> {
  const budget = socketBudget(ctx, socket);
  const linked = budget.linkedSignal(stop);
  const run: ReplayRun = {
    ctx,
    socket,
    range,
    budget,
    signal: linked.signal,
    isCurrent: () => isCurrent() && !linked.signal.aborted,
    timedOut: false,
    onTimeout: () => {
      // A client that does not ack in time gets nothing more of this replay: every wait ends
      // now (the client's gap repair and position check take over).
      run.timedOut = true;
      linked.abort();
    },
    inFlight: 0,
    settled: undefined,
  };
  try {
    const stopped = await sendPages(run);
    return run.timedOut && stopped === "superseded" ? stopUnacked(socket, range.stream) : stopped;
  } finally {
    linked.dispose();
  }
}

interface ReplayRun {
  ctx: ServerContext;
  socket: AnySocket;
  range: ReplayRange;
  budget: SocketBudget;
  /** Aborted when the replay must stop (superseded, socket gone, a frame not acked in time). */
  signal: AbortSignal;
  isCurrent(): boolean;
  timedOut: boolean;
  onTimeout(): void;
  /** Frames sent and not acked yet (nor timed out). */
  inFlight: number;
  /** Called when a frame in flight is acked or times out. */
  settled: (() => void) | undefined;
}

async function sendPages(run: ReplayRun): Promise<ReplayStop> {
  const { ctx, range, budget, signal } = run;
  const { replayBatchSize, replayWindow, maxBatchBytes } = ctx.limits;
  let after = range.start;
  while (after < range.head) {
    if (!run.isCurrent()) return "superseded";
    // Flow control and budget first, holding no page while waiting.
    if (!(await inFlightBelow(run, replayWindow))) return "superseded";
    const limit = Math.min(replayBatchSize, range.head - after);
    const reserved = await budget
      .acquire(frameReservation(maxBatchBytes, limit), signal)
      .catch(() => undefined);
    if (reserved === undefined) return "superseded";
    // In a function of its own: an async function keeps what its locals held while it waits.
    const sent = await sendPage(run, after, limit, reserved);
    if (typeof sent !== "number") return sent;
    after = sent;
    log("replayed %o up to %d to socket %s", range.stream, after, run.socket.id);
  }
  return (await inFlightBelow(run, 1)) ? "done" : "superseded";
}

/**
 * Reads the page after `after` and sends the frames that fit now: the first with the
 * reservation, the next ones only while the window and the budget allow without waiting.
 * Returns the last offset sent, or why the replay stops. Gives back what it did not use.
 */
async function sendPage(
  run: ReplayRun,
  after: number,
  limit: number,
  reservation: Grant,
): Promise<number | ReplayStop> {
  const { ctx, socket, range, budget, signal } = run;
  const { stream, epoch } = range;
  const { replayWindow, maxBatchBytes } = ctx.limits;
  let reserved: Grant | undefined = reservation;
  try {
    if (!run.isCurrent()) return "superseded";
    let page: Awaited<ReturnType<typeof ctx.store.read>>;
    try {
      page = await ctx.store.read(stream, { after, limit });
    } catch (error) {
      throw toStoreError(error, "replay read");
    }
    if (!run.isCurrent()) return "superseded";
    if (page.epoch !== epoch) {
      log("%o was reset during replay to socket %s", stream, socket.id);
      return "epoch";
    }
    const first = page.records[0];
    if (first === undefined || first.offset !== after + 1) {
      log("%o was trimmed past %d during replay to socket %s", stream, after, socket.id);
      const outcome: SubscribedFrame = {
        stream,
        epoch,
        recovered: false,
        reason: "trimmed",
        start: page.head,
        head: page.head,
      };
      socket.emit(FRAMES.subscribed, outcome);
      return "trimmed";
    }
    let sent = after;
    for (const chunk of chunkByBytes(page.records, maxBatchBytes)) {
      let grant: Grant | undefined;
      const bytes = recordsBytes(chunk);
      if (reserved !== undefined) {
        // The page's first frame uses the reservation (asking again only if it is larger).
        grant = reserved;
        reserved = undefined;
        if (grant.bytes >= budget.clamp(bytes)) grant.shrink(bytes);
        else {
          grant.release();
          grant = await budget.acquire(bytes, signal).catch(() => undefined);
          if (grant === undefined) return "superseded";
        }
      } else if (run.inFlight < replayWindow) {
        grant = budget.tryAcquire(bytes);
      }
      // The window is full or the budget spent: the rest of the page is read again later.
      if (grant === undefined) break;
      if (!run.isCurrent()) {
        grant.release();
        return "superseded";
      }
      sendFrame(run, { stream, epoch, ...packRecords(chunk) }, grant);
      ctx.metrics.replayed(chunk.length, bytes);
      sent = chunk[chunk.length - 1]!.offset;
    }
    return sent;
  } finally {
    reserved?.release();
  }
}

/** Resolves true once fewer than `limit` frames are in flight, false if the replay must stop first. */
async function inFlightBelow(run: ReplayRun, limit: number): Promise<boolean> {
  while (run.inFlight >= limit) {
    if (run.signal.aborted) return false;
    const settled = new Promise<true>((resolve) => {
      run.settled = () => resolve(true);
    });
    if ((await untilAborted(settled, run.signal)) === undefined) return false;
  }
  return !run.signal.aborted;
}

/**
 * Emits one replay frame with an ack, counted in flight until acked or `replayAckTimeoutMs`
 * passed (which stops the replay). The frame's grant is given back on the ack, or after a timeout once the
 * frame left the server's buffers (it may still sit there; if it does, the connection is closed,
 * see `releaseWhenWritten`). Nothing that waits for the ack
 * refers to the frame, so its bytes are freed as soon as they are written.
 */
function sendFrame(run: ReplayRun, frame: BatchFrame, grant: Grant): void {
  const { ctx, socket } = run;
  const meter = meterOf(ctx, socket);
  const ack = ackWithin(ctx.limits.replayAckTimeoutMs);
  const sentAt = performance.now();
  socket.emit(FRAMES.batch, frame, ack.acked);
  const mark = meter.mark();
  run.inFlight++;
  void ack.promise.then((acked) => {
    run.inFlight--;
    if (acked) grant.release();
    else {
      run.onTimeout();
      // Past its deadline already if still unwritten: the watchdog closes the connection.
      releaseWhenWritten(ctx, socket, grant, mark, sentAt);
    }
    const settled = run.settled;
    run.settled = undefined;
    settled?.();
  });
}

/** An ack callback and a promise of whether it was called within `timeoutMs` (one timer). */
function ackWithin(timeoutMs: number): { acked: () => void; promise: Promise<boolean> } {
  let settle!: (acked: boolean) => void;
  const promise = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(() => settle(false), timeoutMs);
  return {
    acked: () => {
      clearTimeout(timer);
      settle(true);
    },
    promise,
  };
}

/** The promise's value, or undefined as soon as `signal` aborts (the listener is removed either way). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function stopUnacked(socket: AnySocket, stream: string): ReplayStop {
  log("socket %s did not ack a replay batch of %o in time; replay stopped", socket.id, stream);
  return "unacked";
}
