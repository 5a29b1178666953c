import { AssuredError } from "@assured/core";

/**
 * Notices a connection to a server without Assured: after each connect, the server's first
 * Assured frame (`assured:hello`, sent before anything else) must arrive within `timeoutMs`;
 * otherwise `report` gets one `TIMEOUT` error saying what to fix. Messages stay in the outbox.
 */
export class ServerPresence {
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly report: (error: AssuredError) => void,
  ) {}

  /** The socket connected: start waiting for the server's first Assured frame. */
  connected(): void {
    this.stop();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.report(
        new AssuredError(
          "TIMEOUT",
          `the socket connected, but no Assured server answered within ${this.timeoutMs} ms (ackTimeoutMs): attach createAssuredServer(io, { store, dedupStore }) to the Socket.IO server and namespace this socket connects to. Messages stay queued until one answers.`,
        ),
      );
    }, this.timeoutMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** An Assured frame arrived (or the connection ended): stop waiting. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
