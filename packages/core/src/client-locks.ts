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
   * The lock is released when the promise `task` returns settles.
   */
  request<T>(
    name: string,
    options: { ifAvailable?: boolean },
    task: (granted: boolean) => Promise<T>,
  ): Promise<T>;
}

interface Waiter {
  grant(): void;
}

/**
 * Locks inside one JavaScript realm (a Node process, a worker), for runtimes without Web
 * Locks. Clients sharing one storage object in a process share these (see `locksFor`); two
 * processes sharing a file are not protected by them.
 */
export function memoryLocks(): ClientLocks {
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
      options: { ifAvailable?: boolean },
      task: (granted: boolean) => Promise<T>,
    ): Promise<T> {
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
        queue.push({ grant: () => run().then(resolve, reject) });
      });
    },
  };
}

/** The Web Locks of this runtime (browsers, Deno), or undefined. */
export function webLocks(): ClientLocks | undefined {
  const locks = (globalThis as { navigator?: { locks?: unknown } }).navigator?.locks as
    | {
        request(
          name: string,
          options: { ifAvailable?: boolean },
          task: (lock: unknown) => Promise<unknown>,
        ): Promise<unknown>;
      }
    | undefined;
  if (locks === undefined || typeof locks.request !== "function") return undefined;
  return {
    request<T>(
      name: string,
      options: { ifAvailable?: boolean },
      task: (granted: boolean) => Promise<T>,
    ): Promise<T> {
      return locks.request(name, { ifAvailable: options.ifAvailable === true }, (lock) =>
        task(lock !== null),
      ) as Promise<T>;
    },
  };
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
