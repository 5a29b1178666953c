import type { StorageWrite } from "./client-storage.js";
import type { AssuredError } from "./errors.js";
import type { SessionRecordJson, SessionStore } from "./outbox-session-store.js";
import { type MessageResult, type OutboxMessage, storageError } from "./outbox-storage.js";

/** A message to store: everything but its seq, which it gets once it is stored. */
export type NewMessage = Omit<OutboxMessage, "seq">;

/** How a `SessionWriter` is set up. */
export interface SessionWriterOptions {
  store: SessionStore;
  /** The session written. */
  sid: string;
  maxResultBytes: number;
  maxResults: number;
  resultTtlMs: number;
  /** Failures nobody waits for (a result or the record could not be written). */
  report(error: AssuredError): void;
  /** Called synchronously when a message is stored, with its final seq, before `add` resolves. */
  onStored(message: OutboxMessage): void;
}

/** `[id, finishedAt]` of a stored result, and its JSON once a record held it. */
type ResultEntry = [id: string, finishedAt: number, json?: string];

/** Messages stored together or not at all. */
interface StagedAdd {
  messages: NewMessage[];
  /** Taken over from another session, whose record still lists their stored messages. */
  adopted: boolean;
  resolve(messages: OutboxMessage[]): void;
  reject(error: unknown): void;
}

interface ResultWrite {
  result: MessageResult;
  write: StorageWrite & { omitted: boolean };
}

/**
 * Writes one session's state: its record, its messages and its results. Changes are coalesced
 * (G11): everything added or settled while a flush waits for its turn goes into that flush, as
 * one `batch` when the storage has it (results, new messages, the record, then deletions of
 * finished messages), else as writes in that crash-safe order. So a burst of N messages costs N
 * message writes and a few record writes.
 *
 * Seqs are dense: a message gets `seq` = last stored + 1 only when it is stored with the record;
 * a failed add consumes none. The messages of one `add` (an orphaned session's, when adopting)
 * are stored all or none, so a message is never listed by two live sessions. When the one-step flush fails, it is redone piece by piece so one
 * bad write fails only itself: a result storage refuses is reported and stored as a marker
 * without its value (or not at all) and never blocks; an add storage refuses rejects only that
 * add; a record storage refuses is written again with the next flush.
 */
export class SessionWriter {
  readonly #o: SessionWriterOptions;
  #seq = 0;
  /** Stored unanswered ids, in seq order, each with its JSON (for the record). */
  readonly #ids = new Map<string, string>();
  /** `[id, finishedAt]` of stored results, oldest first (with its JSON once the record held it). */
  #results: ResultEntry[] = [];
  /** Keys to delete once a record without them is stored. */
  readonly #deletes = new Set<string>();
  #adds: StagedAdd[] = [];
  #settles: MessageResult[] = [];
  #merges: Array<[string, number]> = [];
  #forgets: string[] = [];
  #now = 0;
  /** Record changes queued so far, and how many of them a stored record holds. */
  #version = 0;
  #saved = 0;
  #queued: Promise<void> | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(options: SessionWriterOptions) {
    this.#o = options;
  }

  /** The last seq a stored message got (0: none). */
  get seq(): number {
    return this.#seq;
  }

  /** A counter of record changes (settles, merged results); compare with `savedVersion`. */
  get version(): number {
    return this.#version;
  }

  /** How many record changes a successfully stored record holds. */
  get savedVersion(): number {
    return this.#saved;
  }

  /**
   * Stores messages, all or none, with the next seqs; resolves with them once they and the
   * record are stored. `adopted`: they are stored for another session, whose record still
   * lists them (their keys are kept if this fails, and they must not end up in two records).
   * @throws AssuredError `STORE_UNAVAILABLE` when storage refused them (no seq consumed).
   */
  add(messages: NewMessage[], adopted = false): Promise<OutboxMessage[]> {
    return new Promise<OutboxMessage[]>((resolve, reject) => {
      this.#adds.push({ messages, adopted, resolve, reject });
      this.#schedule();
    });
  }

  /** Finishes a message: stores its result, drops it from the record, deletes the message. */
  settle(result: MessageResult, now: number): void {
    this.#settles.push(result);
    this.#change(now);
  }

  /** Takes over stored results (`[id, finishedAt]`) of another session. */
  mergeResults(entries: ReadonlyArray<[string, number]>, now: number): void {
    this.#merges.push(...entries);
    this.#change(now);
  }

  /** Deletes the stored message `id` (finished elsewhere) after the next record write. */
  forgetMessage(id: string, now: number): void {
    this.#forgets.push(id);
    this.#change(now);
  }

  /**
   * Resolves when every write issued so far has finished; a record or deletions that failed
   * before are tried again first.
   */
  flush(): Promise<void> {
    if (this.#version > this.#saved || this.#deletes.size > 0) this.#schedule();
    return this.#writes;
  }

  #change(now: number): void {
    this.#now = Math.max(this.#now, now);
    this.#version++;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queued) return;
    const run = this.#writes.then(() => this.#run());
    this.#writes = run.catch((error) => this.#o.report(storageError("write", "outbox", error)));
    this.#queued = run;
  }

  async #run(): Promise<void> {
    this.#queued = undefined;
    const adds = this.#adds.splice(0);
    const version = this.#version;
    const results = this.#apply();
    for (const { messages } of adds) {
      for (const { id } of messages) this.#deletes.delete(this.#o.store.messageKey(id));
    }
    try {
      if (await this.#commitAll(adds, results, version)) return;
      await this.#commitEach(adds, results, version);
    } catch (error) {
      // Not a storage failure (those are handled above): no add may wait forever.
      for (const add of adds) add.reject(error);
      throw error;
    }
  }

  /** Applies queued settles, merges and forgets to the record; returns the result writes. */
  #apply(): ResultWrite[] {
    const { store, maxResultBytes, maxResults, resultTtlMs } = this.#o;
    const settles = this.#settles.splice(0);
    const merges = this.#merges.splice(0);
    for (const id of this.#forgets.splice(0)) this.#deletes.add(store.messageKey(id));
    for (const result of settles) {
      this.#ids.delete(result.id);
      this.#deletes.add(store.messageKey(result.id));
    }
    const sorted = appendInOrder(this.#results, settles, merges);
    // Oldest first: the entries beyond `maxResults` and those past `resultTtlMs` are a prefix.
    let drop = Math.max(0, sorted.length - maxResults);
    while (drop < sorted.length && this.#now - sorted[drop]![1] > resultTtlMs) drop++;
    // Every settled id is in `sorted` once: it is kept unless dropped here (usually none is).
    let dropped: Set<string> | undefined;
    if (drop > 0) {
      dropped = new Set<string>();
      for (const [id] of sorted.splice(0, drop)) {
        this.#deletes.add(store.resultKey(id));
        dropped.add(id);
      }
    }
    this.#results = sorted;
    const writes: ResultWrite[] = [];
    for (const result of settles) {
      if (dropped?.has(result.id) === true) continue;
      this.#deletes.delete(store.resultKey(result.id));
      writes.push({ result, write: store.resultWrite(result, maxResultBytes) });
    }
    return writes;
  }

  /** Everything in one step. False when it failed (nothing resolved or rejected yet). */
  async #commitAll(adds: StagedAdd[], results: ResultWrite[], version: number): Promise<boolean> {
    const { store, sid } = this.#o;
    let seq = this.#seq;
    const groups = adds.map((add) => add.messages.map((m) => withSeq(m, ++seq)));
    const messages = groups.flat();
    const deletes = [...this.#deletes];
    try {
      await store.commit([
        ...results.map((r) => r.write),
        ...messages.map((m) => store.messageWrite(m, sid)),
        store.sessionWrite(sid, this.#record(messages, seq)),
        ...deletes.map((key) => ({ key, value: null })),
      ]);
    } catch {
      return false;
    }
    this.#seq = seq;
    this.#saved = Math.max(this.#saved, version);
    for (const key of deletes) this.#deletes.delete(key);
    groups.forEach((group, i) => {
      this.#stored(group, adds[i]!);
    });
    return true;
  }

  /** One piece at a time, so one failure fails only itself. */
  async #commitEach(adds: StagedAdd[], results: ResultWrite[], version: number): Promise<void> {
    const { store, sid, report } = this.#o;
    for (const { result, write } of results) {
      try {
        await store.commit([write]);
      } catch (error) {
        report(storageError("write", write.key, error));
        // The settle goes on without the value: at least record that the message finished.
        if (!write.omitted) await store.commit([store.markerWrite(result)]).catch(() => {});
      }
    }
    for (const add of adds) {
      let seq = this.#seq;
      const group = add.messages.map((m) => withSeq(m, ++seq));
      try {
        // The record is the commit point (and last) when the storage has no batch.
        await store.commit([
          ...group.map((m) => store.messageWrite(m, sid)),
          store.sessionWrite(sid, this.#record(group, seq)),
        ]);
      } catch (error) {
        add.reject(storageError("write", store.messageKey(group[0]?.id ?? ""), error));
        // A fresh message's key is listed nowhere: remove it. An adopted one's stays listed.
        if (!add.adopted) {
          for (const { id } of group) await store.remove(store.messageKey(id)).catch(() => {});
        }
        continue;
      }
      this.#seq = seq;
      this.#saved = Math.max(this.#saved, version);
      this.#stored(group, add);
    }
    const deletes = [...this.#deletes];
    if (this.#saved >= version && deletes.length === 0) return;
    try {
      await store.commit([
        store.sessionWrite(sid, this.#record([], this.#seq)),
        ...deletes.map((key) => ({ key, value: null })),
      ]);
      this.#saved = Math.max(this.#saved, version);
      for (const key of deletes) this.#deletes.delete(key);
    } catch (error) {
      report(storageError("write", store.sessionKey(sid), error));
    }
  }

  #stored(group: OutboxMessage[], add: StagedAdd): void {
    for (const message of group) {
      this.#ids.set(message.id, JSON.stringify(message.id));
      this.#o.onStored(message);
    }
    add.resolve(group);
  }

  #record(extra: readonly OutboxMessage[], seq: number): SessionRecordJson {
    const ids = [...this.#ids.values()];
    for (const { id } of extra) ids.push(JSON.stringify(id));
    // Each entry's JSON is made once: the record is written at every flush.
    const results = this.#results.map((entry) => {
      entry[2] ??= JSON.stringify([entry[0], entry[1]]);
      return entry[2];
    });
    return { seq, ids, results };
  }
}

/**
 * `[id, finishedAt]` of stored results (oldest first) with new settles and merged entries, oldest
 * first, one entry per id (a settle replaces its id's entry, a merge never does). The usual case
 * — settles in time order, newer than every stored result, of ids not stored yet, nothing
 * merged — appends to `results` itself, without a copy or a sort.
 */
function appendInOrder(
  results: ResultEntry[],
  settles: readonly MessageResult[],
  merges: ReadonlyArray<[string, number]>,
): ResultEntry[] {
  const ids = new Set<string>();
  let last = results.length === 0 ? Number.NEGATIVE_INFINITY : results[results.length - 1]![1];
  let ordered = merges.length === 0;
  for (const { id, finishedAt } of settles) {
    if (ids.has(id) || finishedAt < last) ordered = false;
    ids.add(id);
    last = finishedAt;
  }
  if (ordered) {
    // `some` copies nothing: a settle of an id already stored (rare) needs the filter.
    const out = results.some(([id]) => ids.has(id))
      ? results.filter(([id]) => !ids.has(id))
      : results;
    for (const { id, finishedAt } of settles) out.push([id, finishedAt]);
    return out;
  }
  const known = new Map(results.map(([id, at]) => [id, at]));
  for (const [id, at] of merges) if (!known.has(id)) known.set(id, at);
  for (const { id, finishedAt } of settles) {
    known.delete(id);
    known.set(id, finishedAt);
  }
  return [...known].sort((a, b) => a[1] - b[1]);
}

function withSeq(message: NewMessage, seq: number): OutboxMessage {
  const { id, name, payload, createdAt } = message;
  return { id, seq, name, payload, createdAt };
}
