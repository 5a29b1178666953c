import {
  AssuredError,
  type AssuredErrorData,
  FRAMES,
  ROOM_PREFIX,
  type StreamName,
} from "@assured/core";
import type { Socket } from "socket.io";

/** A socket with Assured's frames, free of the application's typed-events constraints. */
// biome-ignore lint/suspicious/noExplicitAny: Assured's frames are not part of the app's event maps.
export type AnySocket = Socket<any, any, any, any>;

/** The Socket.IO room carrying a stream's live events. */
export function roomOf(stream: StreamName): string {
  return ROOM_PREFIX + stream;
}

/** The wire form of any failure; anything but an `AssuredError` becomes `INTERNAL`. */
export function toErrorData(error: unknown): AssuredErrorData {
  if (error instanceof AssuredError) return error.toJSON();
  return { code: "INTERNAL", message: "internal server error; see the server log." };
}

/** Sends an `assured:error` for a frame without an ack. */
export function sendError(socket: AnySocket, error: unknown): void {
  socket.emit(FRAMES.error, toErrorData(error));
}

/** A `BAD_FRAME` error. */
export function badFrame(message: string): AssuredError {
  return new AssuredError("BAD_FRAME", message);
}
