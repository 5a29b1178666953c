import { FRAMES } from "@assured/core/protocol";

/**
 * How many client messages a frame seen by `socket.onAny` carries: 1 for `assured:msg`, the
 * number of messages of an `assured:msgs` batch, 0 for any other frame.
 */
export function messagesIn(event: string, frame: unknown): number {
  if (event === FRAMES.message) return 1;
  if (event !== FRAMES.messages) return 0;
  const msgs = (frame as { msgs?: unknown } | null)?.msgs;
  return Array.isArray(msgs) ? msgs.length : 0;
}
