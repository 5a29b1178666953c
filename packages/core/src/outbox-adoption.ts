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

/** Timers of the index re-read when there is no channel (`setTimeout`'s shape). */
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
  intervalMs: number;
  report(error: AssuredError): void;
}

/**
 * The sessions of one storage, seen from one of them. At `start` (under the index lock) it
 * registers its session, migrates layout v1 and adopts every session whose lock is free (its
 * owner closed or crashed). While running it keeps a queued request on the lock of every other
 * session it knows — granted when that owner closes or dies — and then adopts it. It learns of
 * sessions started later from the channel (or, without one, by re-reading the index every
 * `intervalMs`).
 *
 * Adopting a session: its messages and result ids move into the host's record (stored), then
 * its record and its index entry are deleted, then its lock is released. A crash in between
 * leaves both records listing a message; the next adopter skips ids already pending (and the
 * server deduplicates by id).
 */
export class SessionAdoption {
  readonly #o: AdoptionOptions;
  readonly #watching = new Set<string>();
  readonly #running = new Set<Promise<unknown>>();
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
   * Registers the session and adopts what is orphaned. Returns the client id: `clientId` when
   * given, else the stored one (or v1's), else a new one; stored when it differs.
   * @throws AssuredError `STORE_UNAVAILABLE` when the storage cannot be read or written.
   */
  async start(clientId: string | undefined): Promise<string> {
    const { store, locks, sid, report } = this.#o;
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
            if (granted) await this.#adopt(other).catch(report);
            return granted;
          },
        );
        if (!free) this.#watch(other);
      }
      return chosen;
    });
    this.#started = true;
    this.#o.channel?.postMessage({ type: "session", session: sid });
    if (!this.#o.channel) this.#arm();
    if (this.#rescanAgain) this.#rescan();
    return id;
  }

  /** Resolves once no adoption is under way. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Starts no adoption any more; closes the channel and the timer. */
  stop(): void {
    this.#stopped = true;
    if (this.#o.channel) {
      this.#o.channel.onmessage = null;
      this.#o.channel.close();
    }
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Waits (queued) for the lock of session `other`, then adopts it. */
  #watch(other: string): void {
    const { store, locks, sid, report } = this.#o;
    if (this.#stopped || other === sid || this.#watching.has(other)) return;
    this.#watching.add(other);
    locks
      .request(store.sessionLock(other), {}, async () => {
        if (this.#stopped) return;
        await this.#track(
          locks.request(store.indexLock, {}, async () => {
            if (this.#stopped) return;
            if ((await store.readIndex(report)).includes(other)) await this.#adopt(other);
          }),
        );
      })
      .catch((error) => report(toAssured(error)))
      .finally(() => this.#watching.delete(other));
  }

  /** Adopts session `other`; the caller holds the index lock and `other`'s lock. */
  async #adopt(other: string): Promise<void> {
    const { store, report } = this.#o;
    const record = await store.readSession(other, report);
    const contents = await this.#contents(record?.ids ?? [], record?.results ?? []);
    if (!(await this.#o.host.absorb(contents))) return;
    await store.remove(store.sessionKey(other));
    const index = await store.readIndex(report);
    await store.commit([store.indexWrite(index.filter((s) => s !== other))]);
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
