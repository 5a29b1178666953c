import { AssuredError } from "@assured/core";
import type { Socket } from "socket.io-client";

/** Every Assured frame name starts with this (see `FRAMES`). */
const FRAME_PREFIX = "assured:";

/** The parts of socket.io-client's `Socket` internals this file reads. */
interface SocketInternals {
  sendBuffer?: Array<{ data?: unknown[]; id?: number }>;
  acks?: Record<string, unknown>;
  _opts?: { retries?: number; ackTimeout?: number };
}

/**
 * Removes Assured's frames from socket.io-client's send buffer (and their ack callbacks).
 *
 * socket.io-client buffers an `emit` when the socket is not connected — and also when it still
 * looks connected but the engine's ping deadline has passed (a busy main thread, a suspended
 * laptop). The buffer is written on the next connection before the `connect` event, so a
 * buffered message would reach the server before the resend of earlier unanswered ones
 * (breaking G10). Assured resends everything itself, in order, after `connect`.
 */
export function purgeAssuredFrames(socket: Socket): void {
  const internals = socket as unknown as SocketInternals;
  const buffer = internals.sendBuffer;
  if (!Array.isArray(buffer) || buffer.length === 0) return;
  const kept = buffer.filter((packet) => {
    const name = packet.data?.[0];
    const ours = typeof name === "string" && name.startsWith(FRAME_PREFIX);
    if (ours && packet.id !== undefined && internals.acks) delete internals.acks[packet.id];
    return !ours;
  });
  buffer.splice(0, buffer.length, ...kept);
}

/**
 * Refuses a socket created with socket.io-client's `retries` option (its own queue would resend
 * Assured's frames beside Assured's outbox: duplicates, and frames out of order) or `ackTimeout`
 * (it changes every ack callback to error-first, so answers would never be recognized).
 * @throws AssuredError `INVALID_ARGUMENT`
 */
export function refuseUnsupportedSocketOptions(socket: Socket): void {
  const { retries, ackTimeout } = (socket as unknown as SocketInternals)._opts ?? {};
  if (typeof retries === "number" && retries > 0) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "the socket was created with the `retries` option: Assured resends its own frames in order; create the socket without `retries`.",
    );
  }
  if (ackTimeout !== undefined) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "the socket was created with the `ackTimeout` option: Assured times its own requests (its `ackTimeoutMs` option); create the socket without `ackTimeout`.",
    );
  }
}
