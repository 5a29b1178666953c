import { AssuredError } from "./errors.js";

/** A `BAD_FRAME` error: the frame is not what the protocol says (`message` says how). */
export function badFrame(message: string): AssuredError {
  return new AssuredError("BAD_FRAME", message);
}
