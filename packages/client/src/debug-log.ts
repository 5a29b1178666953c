import createDebug from "debug";

/**
 * Debug logs, off unless enabled, like the server's `assured:server:*`: `DEBUG=assured:client*`
 * in Node, `localStorage.debug = "assured:client*"` in browsers (then reload).
 */
export const log = createDebug("assured:client");

/** The outbox: messages sent, answered, retried and given up. */
export const outboxLog = createDebug("assured:client:outbox");

/** Streams: gap fetches, their retries and refusals, position checks, subscription retries. */
export const streamLog = createDebug("assured:client:stream");
