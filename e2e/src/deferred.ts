/** A promise with its `resolve` at hand: a gate a test opens when it is ready. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/**
 * Creates a `Deferred`.
 *
 * @example
 * const gate = deferred();
 * server.assured.on("work", async () => { await gate.promise; });
 * gate.resolve();
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
