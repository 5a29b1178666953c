// biome-ignore lint/suspicious/noExplicitAny: emitters type their listeners' arguments loosely.
type Listener = (...args: any[]) => void;

/** Anything with Socket.IO / Node style `once` and `off`. */
export interface OnceEmitter {
  once(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
}

/**
 * Resolves with the arguments of the next `event` of `emitter` (a Socket.IO socket, a Node
 * `EventEmitter`, a child process); rejects after `timeoutMs`.
 *
 * @example await nextEvent(socket, "disconnect");
 */
export function nextEvent<A extends unknown[] = unknown[]>(
  emitter: OnceEmitter,
  event: string,
  timeoutMs = 10_000,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as unknown as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}
