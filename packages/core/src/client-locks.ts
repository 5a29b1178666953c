/** Options of one lock request (the subset of Web Locks' `LockOptions` Assured uses). */
export interface LockRequestOptions {
  /** Do not wait: the task gets `false` when the lock is held elsewhere. */
  ifAvailable?: boolean;
  /**
   * Cancels the request while it waits: it is removed from the queue and rejects with the
   * signal's reason (an `AbortError` `DOMException` by default). No effect once granted. Not
   * with `ifAvailable` (Web Locks reject that combination with `NotSupportedError`).
   */
  signal?: AbortSignal;
}

/**
 * Named exclusive locks shared by every client using one storage: the shape of the Web Locks
 * API (`navigator.locks`), which browsers share between the tabs of an origin and release when
 * a tab closes or crashes. Assured uses them so that tabs sharing `localStorage` or IndexedDB
 * never overwrite each other's outbox, results or positions.
 */
export interface ClientLocks {
  /**
   * Runs `task` while holding the lock `name`, queued behind earlier holders. With
   * `ifAvailable: true` it does not wait: `task` gets `false` when the lock is held elsewhere.
   * A waiting request is cancelled by aborting `signal`. The lock is released when the promise
   * `task` returns settles.
   */
  request<T>(
    name: string,
    options: LockRequestOptions,
    task: (granted: boolean) => Promise<T>,
  ): Promise<T>;
}

/** In-process locks (`memoryLocks`), which can also tell how many requests wait. */
export interface MemoryLocks extends ClientLocks {
  /** How many requests wait for the lock `name` (its holder not counted): for diagnostics. */
  queued(name: string): number;
}

interface Waiter {
  grant(): void;
}

/**
 * Locks inside one JavaScript realm (a Node process, a worker), for runtimes without Web
 * Locks. Clients sharing one storage object in a process share these (see `locksFor`); two
 * processes sharing a file are not protected by them. A release is seen at once by the next
 * waiter (no delay between a holder ending and its lock being free).
 */
export function memoryLocks(): MemoryLocks {
  const held = new Map<string, Waiter[]>();
  const release = (name: string) => {
    const queue = held.get(name);
    const next = queue?.shift();
    if (next) next.grant();
    else held.delete(name);
  };
  return {
    request<T>(
      name: string,
      options: LockRequestOptions,
      task: (granted: boolean) => Promise<T>,
    ): Promise<T> {
      const { signal } = options;
      if (signal && options.ifAvailable) {
        return Promise.reject(
          new DOMException("ifAvailable cannot be used with signal.", "NotSupportedError"),
        );
      }
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      const queue = held.get(name);
      if (queue !== undefined && options.ifAvailable) return task(false);
      const run = async (): Promise<T> => {
        try {
          return await task(true);
        } finally {
          release(name);
        }
      };
      if (queue === undefined) {
        held.set(name, []);
        return run();
      }
      return new Promise<T>((resolve, reject) => {
        const cancel = () => {
          const at = queue.indexOf(waiter);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(abortReason(signal as AbortSignal));
        };
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener("abort", cancel);
            run().then(resolve, reject);
          },
        };
        queue.push(waiter);
        signal?.addEventListener("abort", cancel, { once: true });
      });
    },
    queued: (name) => held.get(name)?.length ?? 0,
  };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The lock request was aborted.", "AbortError");
}

/** The `ClientLocks` objects `webLocks()` made: the runtime's Web Locks. */
const runtimeLocks = new WeakSet<ClientLocks>();

/** The Web Locks of this runtime (browsers, Deno), or undefined. */
export function webLocks(): ClientLocks | undefined {
  const locks = (globalThis as { navigator?: { locks?: unknown } }).navigator?.locks as
    | {
        request(
          name: string,
          options: { ifAvailable?: boolean; signal?: AbortSignal },
          task: (lock: unknown) => Promise<unknown>,
        ): Promise<unknown>;
      }
    | undefined;
  if (locks === undefined || typeof locks.request !== "function") return undefined;
  const client: ClientLocks = {
    request<T>(
      name: string,
      options: LockRequestOptions,
      task: (granted: boolean) => Promise<T>,
    ): Promise<T> {
      const native = {
        ifAvailable: options.ifAvailable === true,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      };
      return locks.request(name, native, (lock) => task(lock !== null)) as Promise<T>;
    },
  };
  runtimeLocks.add(client);
  return client;
}

/**
 * True when `locks` are the runtime's Web Locks (made by `webLocks()`, the default in
 * browsers): locks that the browser releases asynchronously when a page goes away, so a page
 * that has just been closed or reloaded may still hold its lock for a moment.
 */
export function isWebLocks(locks: ClientLocks): boolean {
  return runtimeLocks.has(locks);
}

const shared = new WeakMap<object, ClientLocks>();

/**
 * The locks for clients of one storage: the Web Locks of the runtime when it has them, else
 * in-process locks shared by every client given the same storage object.
 */
export function locksFor(storage: object): ClientLocks {
  const web = webLocks();
  if (web !== undefined) return web;
  let locks = shared.get(storage);
  if (locks === undefined) {
    locks = memoryLocks();
    shared.set(storage, locks);
  }
  return locks;
}
