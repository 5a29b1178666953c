/**
 * Callbacks run when a signal aborts, through one listener per signal: the `Deduplicator` gives
 * up each run of a socket's turn on that socket's signal, and an `addEventListener` per run
 * (an options check and a listener record each time) cost more than the rest of the bookkeeping.
 */
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once `signal` aborts, after the callbacks watched before it, unless
 * `unwatchAbort` comes first. The signal must not be aborted yet (check `signal.aborted` first).
 */
export function watchAbort(signal: AbortSignal, callback: () => void): void {
  let callbacks = watchers.get(signal);
  if (callbacks === undefined) {
    const watched = new Set<() => void>();
    callbacks = watched;
    watchers.set(signal, watched);
    signal.addEventListener(
      "abort",
      () => {
        // Deleted after the calls: a watcher may still unwatch a later one.
        for (const watcher of watched) watcher();
        watchers.delete(signal);
        watched.clear();
      },
      { once: true },
    );
  }
  callbacks.add(callback);
}

/** Stops watching: `callback` will not be called for `signal`. */
export function unwatchAbort(signal: AbortSignal, callback: () => void): void {
  watchers.get(signal)?.delete(callback);
}
