import type { EventRecord } from "@assured/core";
import type { WireRecord } from "@assured/core/protocol";
import { type ConnectionMeter, connectionMeter, disposeConnectionMeter } from "./backlog-guard.js";
import { type Grant, SocketBudget } from "./byte-budget.js";
import type { ServerContext } from "./context.js";
import { stateOf } from "./socket-state.js";
import type { AnySocket } from "./wire.js";

/**
 * The socket's catch-up page budget (`maxSocketReplayBytes`, drawing from the server's
 * `maxReplayBytesInFlight`), created on first use and closed when the socket disconnects: its
 * waiters leave the queues and its grants are given back.
 */
export function socketBudget(ctx: ServerContext, socket: AnySocket): SocketBudget {
  const state = stateOf(socket, ctx.limits);
  const current = state.replayBudget;
  if (current !== undefined && !current.closed) return current;
  const budget = new SocketBudget(ctx.replayBudget, ctx.limits.maxSocketReplayBytes);
  state.replayBudget = budget;
  if (socket.connected) socket.once("disconnect", () => budget.close());
  else budget.close();
  return budget;
}

/** Closes the socket's budget and stops its connection's meter (Assured is closing). */
export function closeSocketBudget(ctx: ServerContext, socket: AnySocket): void {
  stateOf(socket, ctx.limits).replayBudget?.close();
  disposeConnectionMeter(socket);
}

/** The meter of the socket's connection (backlog and written bytes). */
export function meterOf(ctx: ServerContext, socket: AnySocket): ConnectionMeter {
  return connectionMeter(socket, ctx.limits);
}

/**
 * Gives `grant` back once the socket's packets up to `mark` left the server's buffers. They must
 * do so within `writeTimeoutMs` of `sentAt` (when they were emitted, a monotonic
 * `performance.now()` time): a connection that has not written them by then is closed (its
 * buffers dropped, the client recovers by replay), which gives the grant back, so a peer that
 * stopped reading holds its replay/fetch bytes for at most about that long.
 */
export function releaseWhenWritten(
  ctx: ServerContext,
  socket: AnySocket,
  grant: Grant,
  mark: number,
  sentAt: number,
): void {
  meterOf(ctx, socket).afterWritten(
    mark,
    () => grant.release(),
    sentAt + ctx.limits.writeTimeoutMs,
    ctx.writes,
  );
}

/** Bytes per record besides its payload, id and name: an estimate that errs high (a record's own columns take 9–16). */
const RECORD_OVERHEAD_BYTES = 48;

/**
 * What to reserve before reading up to `records` records for one frame: `maxBatchBytes` of
 * payloads plus each record's overhead with an id and name of typical length. A frame that
 * turns out larger (long ids, one event beyond `maxBatchBytes`) asks again for its real size.
 */
export function frameReservation(maxBatchBytes: number, records: number): number {
  return maxBatchBytes + records * (RECORD_OVERHEAD_BYTES + 80);
}

/**
 * What records (as `read` gives them, or `[offset, id, name, length, time]` as a store packs
 * them) cost in a fetch reply or first page, in bytes (an estimate of the wire size).
 */
export function pageBytes(records: readonly EventRecord[] | readonly WireRecord[]): number {
  let bytes = 0;
  for (const record of records) {
    bytes += Array.isArray(record)
      ? record[1].length + record[2].length + record[3]
      : record.id.length + record.name.length + record.payload.byteLength;
    bytes += RECORD_OVERHEAD_BYTES;
  }
  return bytes;
}
