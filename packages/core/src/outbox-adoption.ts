import { backoffDelay, type RandomSource, type RetryPolicy } from "./backoff.js";
import type { ClientLocks } from "./client-locks.js";
import { AssuredError } from "./errors.js";
import { newId } from "./ids.js";
import { readLegacy } from "./outbox-legacy.js";
import type { SessionRecord, SessionStore } from "./outbox-session-store.js";
import type { MessageResult, OutboxMessage } from "./outbox-storage.js";

/**
 * A channel between the outboxes of one storage (the shape of `BroadcastChannel`): each posts
 * when its session starts, so the others watch it.
 */
export interface OutboxChannel {
  postMessage(message: unknown): void;
  /** Receives what other channels of the same name post. */
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

/** Timers of the index re-read, of adoption retries and of the grace (`setTimeout`'s shape). */
export interface OutboxTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** What an orphaned session (or the v1 layout) held, for its adopter. */
export interface OrphanContents {
  /** Its unanswered messages, in its seq order. */
  messages: OutboxMessage[];
  /** `[id, finishedAt]` of its stored results, and of listed messages that have a result. */
  results: Array<[string, number]>;
  /** Listed messages that have a stored result: finished, their message keys are deleted. */
  finished: string[];
  /** Results stored only inside the orphan's record (layout v1), to store per message. */
  imported: MessageResult[];
}

/** The outbox side of adoption. */
export interface AdoptionHost {
  /**
   * Takes over an orphan's contents into the host's session (new seqs in the host's dense
   * sequence, ids already pending skipped). True once the host's stored record holds them all,
   * so the orphan may be deleted.
   */
  absorb(contents: OrphanContents): Promise<boolean>;
}

/** How a `SessionAdoption` is set up. */
export interface AdoptionOptions {
  store: SessionStore;
  locks: ClientLocks;
  /** The host's session. */
  sid: string;
  host: AdoptionHost;
  channel: OutboxChannel | undefined;
  timers: OutboxTimers;
  /** How often the index is re-read (with a channel too: a message may be missed). */
  intervalMs: number;
  /** How long `start` waits for sessions still locked before it counts them alive (0: not). */
  graceMs: number;
  /** The backoff of a failed adoption's retries. */
  retry: RetryPolicy;
  random: RandomSource;
  report(error: AssuredError): void;
}

/**
 * The sessions of one storage, seen from one of them. At `start` (under the index lock) it
 * registers its session, migrates layout v1 and adopts every session whose lock is free (its
 * owner closed or crashed); it then waits up to `graceMs` for the locked ones, adopting those
 * released meanwhile (a page that just reloaded may hold its lock a moment longer). While running
 * it keeps a queued request on the lock of every other session it knows — granted when that
 * owner closes or dies — and then adopts it. It learns of sessions started later from the
 * channel and by re-reading the index every `intervalMs`. A failed adoption (a storage error) is
 * reported and tried again after a backoff. `stop` cancels the queued requests.
 *
 * Adopting a session: its messages and result ids move into the host's record (stored), then
 * its record and its index entry are deleted, then its lock is released. A crash in between
 * leaves both records listing a message; the next adopter skips ids already pending (and the
 * server deduplicates by id).
 */
export class SessionAdoption {
  readonly #o: AdoptionOptions;
  /** Watched sessions: resolves once the lock is granted (or the request ended). */
  readonly #watching = new Map<string, Promise<void>>();
  readonly #running = new Set<Promise<unknown>>();
  /** Sessions whose adoption failed: attempts so far and the pending retry's timer. */
  readonly #retries = new Map<string, { attempts: number; timer: unknown }>();
  /** Cancels the queued lock requests at `stop`. */
  readonly #abort = new AbortController();
  #stopped = false;
  #started = false;
  #rescanning = false;
  #rescanAgain = false;
  #timer: unknown;

  constructor(options: AdoptionOptions) {
    this.#o = options;
    if (options.channel) options.channel.onmessage = () => this.#rescan();
  }

  /**
   * Registers the session and adopts what is orphaned (waiting up to `graceMs` for sessions
   * still locked). Returns the client id: `clientId` when given, else the stored one (or v1's),
   * else a new one; stored when it differs.
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read or written.
   */
  async start(clientId: string | undefined): Promise<string> {
    const { store, locks, sid, report } = this.#o;
    const locked: Array<Promise<void>> = [];
    const id = await locks.request(store.indexLock, {}, async () => {
      const legacy = await readLegacy(store, report);
      const stored = await store.readClientId(report);
      const chosen = clientId ?? stored ?? legacy?.clientId ?? newId();
      const others = [...new Set(await store.readIndex(report))].filter((s) => s !== sid);
      // Registered first: the record may hold adopted messages only once the index names it.
      await store.commit([
        ...(stored === chosen ? [] : [store.clientWrite(chosen)]),
        store.indexWrite([...others, sid]),
      ]);
      if (legacy) {
        const contents = await this.#contents(legacy.ids, []);
        contents.imported = legacy.results;
        if (await this.#o.host.absorb(contents)) {
          await store.commit(legacy.keys.map((key) => ({ key, value: null })));
        }
      }
      for (const other of others) {
        const free = await locks.request(
          store.sessionLock(other),
          { ifAvailable: true },
          async (granted) => {
            if (granted) await this.#adopt(other, false);
            return granted;
          },
        );
        if (!free) locked.push(this.#watch(other));
      }
      return chosen;
    });
    this.#o.channel?.postMessage({ type: "session", session: sid });
    // Outside the index lock: an owner that is closing may need it to finish.
    if (locked.length > 0 && this.#o.graceMs > 0) await this.#grace(locked);
    this.#started = true;
    this.#arm();
    if (this.#rescanAgain) this.#rescan();
    return id;
  }

  /** Resolves once no adoption is under way. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Starts no adoption any more; cancels the queued lock requests, closes channel and timers. */
  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#o.channel) {
      this.#o.channel.onmessage = null;
      this.#o.channel.close();
    }
    const { timers } = this.#o;
    if (this.#timer !== undefined) timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const { timer } of this.#retries.values()) {
      if (timer !== undefined) timers.clearTimeout(timer);
    }
    this.#retries.clear();
  }

  /**
   * Waits (queued, cancelled by `stop`) for the lock of session `other`, then adopts it.
   * Resolves once the lock is granted (its adoption is then tracked) or the request ended.
   */
  #watch(other: string): Promise<void> {
    const { store, locks, sid, report } = this.#o;
    const watched = this.#watching.get(other);
    if (watched) return watched;
    if (this.#stopped || other === sid) return Promise.resolve();
    let granted!: () => void;
    const grant = new Promise<void>((resolve) => {
      granted = resolve;
    });
    this.#watching.set(other, grant);
    const signal = this.#abort.signal;
    locks
      .request(store.sessionLock(other), { signal }, async () => {
        granted();
        if (this.#stopped) return;
        await this.#track(
          locks.request(store.indexLock, {}, async () => {
            if (!this.#stopped) await this.#adopt(other, true);
          }),
        );
      })
      .catch((error) => {
        if (!signal.aborted) report(toAssured(error));
      })
      .finally(() => {
        granted();
        this.#watching.delete(other);
      });
    return grant;
  }

  /** Waits up to `graceMs` until every lock of `locked` is granted, then for the adoptions. */
  async #grace(locked: Array<Promise<void>>): Promise<void> {
    const { timers, graceMs } = this.#o;
    let timer: unknown;
    const expired = new Promise<void>((resolve) => {
      timer = timers.setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(locked), expired]);
    timers.clearTimeout(timer);
    await this.idle();
  }

  /**
   * Adopts session `other` (when `listed` is true: if the index still names it); the caller
   * holds the index lock and `other`'s lock. A failure is reported and retried after a backoff.
   */
  async #adopt(other: string, listed: boolean): Promise<void> {
    let done = false;
    try {
      done = await this.#take(other, listed);
    } catch (error) {
      this.#o.report(toAssured(error));
    }
    if (!done) {
      this.#retryLater(other);
      return;
    }
    const retry = this.#retries.get(other);
    if (retry?.timer !== undefined) this.#o.timers.clearTimeout(retry.timer);
    this.#retries.delete(other);
  }

  /** True once `other` is adopted (or no longer listed); false when its contents were not stored. */
  async #take(other: string, listed: boolean): Promise<boolean> {
    const { store, report } = this.#o;
    if (listed && !(await store.readIndex(report)).includes(other)) return true;
    const record = await store.readSession(other, report);
    const contents = await this.#contents(record?.ids ?? [], record?.results ?? []);
    if (!(await this.#o.host.absorb(contents))) return false;
    await store.remove(store.sessionKey(other));
    const index = await store.readIndex(report);
    await store.commit([store.indexWrite(index.filter((s) => s !== other))]);
    return true;
  }

  /** Watches `other` again after the backoff of its failed attempts (one retry pending at most). */
  #retryLater(other: string): void {
    if (this.#stopped) return;
    const retry = this.#retries.get(other) ?? { attempts: 0, timer: undefined };
    if (retry.timer !== undefined) return;
    retry.attempts++;
    const { timers, retry: policy, random } = this.#o;
    retry.timer = timers.setTimeout(
      () => {
        retry.timer = undefined;
        this.#watch(other);
      },
      backoffDelay(retry.attempts, policy, random),
    );
    this.#retries.set(other, retry);
  }

  async #contents(
    ids: readonly string[],
    results: SessionRecord["results"],
  ): Promise<OrphanContents> {
    const { store, report } = this.#o;
    const contents: OrphanContents = {
      messages: [],
      results: [...results],
      finished: [],
      imported: [],
    };
    for (const id of ids) {
      const message = await store.readMessage(id, report);
      if (!message) continue;
      const result = await store.readResult(id, report);
      if (result) {
        contents.finished.push(id);
        contents.results.push([id, result.finishedAt]);
      } else {
        contents.messages.push(message);
      }
    }
    return contents;
  }

  #rescan(): void {
    if (this.#stopped) return;
    if (!this.#started || this.#rescanning) {
      this.#rescanAgain = true;
      return;
    }
    this.#rescanning = true;
    const { store, report } = this.#o;
    const run = async () => {
      do {
        this.#rescanAgain = false;
        for (const other of await store.readIndex(report)) this.#watch(other);
      } while (this.#rescanAgain && !this.#stopped);
    };
    run()
      .catch((error) => report(toAssured(error)))
      .finally(() => {
        this.#rescanning = false;
      });
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#rescan();
      this.#arm();
    }, this.#o.intervalMs);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#running.add(work);
    const done = () => this.#running.delete(work);
    work.then(done, done);
    return work;
  }
}

/**
 * Takes the lock `name` (queued) and holds it until the returned release function is called.
 * @throws AssuredError `STORE_UNAVAILABLE` when the lock manager fails.
 */
export async function holdLock(locks: ClientLocks, name: string): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await new Promise<void>((granted, failed) => {
    locks
      .request(name, {}, async () => {
        granted();
        await held;
      })
      .catch((error) => failed(toAssured(error)));
  });
  return release;
}

/** The default channel: a `BroadcastChannel` when the runtime has one (not keeping Node alive). */
export function defaultChannel(name: string): OutboxChannel | undefined {
  const Channel = (globalThis as { BroadcastChannel?: new (name: string) => unknown })
    .BroadcastChannel;
  if (typeof Channel !== "function") return undefined;
  const channel = new Channel(name) as OutboxChannel & { unref?: () => void };
  channel.unref?.();
  return channel;
}

/** The default timers (not keeping Node alive). */
export const DEFAULT_TIMERS: OutboxTimers = {
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

function toAssured(error: unknown): AssuredError {
  return error instanceof AssuredError
    ? error
    : new AssuredError("STORE_UNAVAILABLE", "client storage or lock failure.", { cause: error });
}
