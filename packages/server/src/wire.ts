import { AssuredError, type AssuredErrorData, type StreamName } from "@assured/core";
import { FRAMES, ROOM_PREFIX } from "@assured/core/protocol";

export { badFrame } from "@assured/core/protocol";

import type { Socket } from "socket.io";

/** A socket with Assured's frames, free of the application's typed-events constraints. */
// biome-ignore lint/suspicious/noExplicitAny: Assured's frames are not part of the app's event maps.
export type AnySocket = Socket<any, any, any, any>;

/** The Socket.IO room carrying a stream's live events. */
export function roomOf(stream: StreamName): string {
  return ROOM_PREFIX + stream;
}

/**
 * The wire form of any failure: anything but an `AssuredError` becomes `INTERNAL`, and a store
 * failure keeps its code but not its text (driver messages name hosts, ports and internals:
 * they stay on the server, for `onError`).
 */
export function toErrorData(error: unknown): AssuredErrorData {
  if (error instanceof AssuredError) {
    if (error.code !== "STORE_UNAVAILABLE") return error.toJSON();
    return { code: error.code, message: "the server could not reach its store; retry later." };
  }
  return { code: "INTERNAL", message: "internal server error; see the server log." };
}

/** Sends an `assured:error` (for a frame without an ack). */
export function sendError(socket: AnySocket, error: AssuredErrorData): void {
  socket.emit(FRAMES.error, error);
}
