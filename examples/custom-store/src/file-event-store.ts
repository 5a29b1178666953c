import {
  type AppendEntry,
  type AppendResult,
  assertAppendEntries,
  assertReadOptions,
  assertRetention,
  assertStreamName,
  type Clock,
  type EventStore,
  type EventStoreCapabilities,
  newId,
  type ReadOptions,
  type ReadResult,
  type Retention,
  type StreamHead,
  snapshotEntries,
  systemClock,
} from "@assured/core/store";
import { DirectoryOperations } from "./directory-operations.js";
import { appendDurably, replaceDurably } from "./durable-file.js";
import { eventLine, headerLine, loadStreamLog, type StreamLog } from "./stream-file.js";

/** Options of `FileEventStore`. */
export interface FileEventStoreOptions {
  /** The directory holding one JSON-lines file per stream (created if missing). */
  directory: string;
  /** Append times and age retention use this clock. Default: the wall clock. */
  clock?: Clock;
  /** Retention per stream; `maxLength` defaults to 10,000. */
  retention?: Retention;
}

/**
 * An `EventStore` on plain files: one append-only JSON-lines file per stream in a directory,
 * each append fsynced before it resolves. Persistent (a new instance on the directory sees
 * everything), but single-instance: one process may open a directory at a time, because the
 * read-modify-write of a file is serialized only within the process.
 */
export class FileEventStore implements EventStore {
  readonly capabilities: EventStoreCapabilities = {
    sharedAcrossInstances: false,
    persistent: true,
    retentionByAge: true,
    retentionByLength: true,
  };
  private readonly files: DirectoryOperations;
  private readonly clock: Clock;
  private readonly maxLength: number;
  private readonly maxAgeMs: number | undefined;

  constructor(options: FileEventStoreOptions) {
    this.files = new DirectoryOperations({
      directory: options?.directory,
      store: "FileEventStore",
      extension: ".jsonl",
      assertName: assertStreamName,
    });
    const retention = options.retention ?? {};
    assertRetention(retention);
    this.clock = options.clock ?? systemClock;
    this.maxLength = retention.maxLength ?? 10_000;
    this.maxAgeMs = retention.maxAgeMs;
  }

  append(stream: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    // The write is queued: copy the payloads now, the caller may reuse its buffers at once.
    const snapshot = snapshotEntries(entries);
    return this.files.run(
      "append",
      stream,
      () => assertAppendEntries(snapshot),
      async (path) => {
        const now = this.clock();
        const log = (await loadStreamLog(path, stream)) ?? {
          stream,
          epoch: "",
          base: 0,
          records: [],
          torn: false,
        };
        let rewrite = log.epoch === "" || log.torn || this.retain(log, now) > 0;
        if (log.epoch === "") log.epoch = newId();
        const ids = new Map(log.records.map((r) => [r.id, r.offset]));
        const results: AppendResult[] = [];
        let lines = "";
        for (const entry of snapshot) {
          const id = entry.id ?? newId();
          const original = ids.get(id);
          if (original !== undefined) {
            results.push({ offset: original, id, duplicate: true, epoch: log.epoch });
            continue;
          }
          const offset = log.base + log.records.length + 1;
          const record = {
            stream,
            offset,
            id,
            name: entry.name,
            payload: entry.payload,
            time: now,
          };
          log.records.push(record);
          ids.set(id, offset);
          lines += eventLine(record);
          results.push({ offset, id, duplicate: false, epoch: log.epoch });
        }
        // Rewriting whenever retention dropped something keeps each file bounded.
        rewrite = this.retain(log, now) > 0 || rewrite;
        if (rewrite) {
          await replaceDurably(path, headerLine(log) + log.records.map(eventLine).join(""));
        } else if (lines !== "") {
          await appendDurably(path, lines);
        }
        return results;
      },
    );
  }

  read(stream: string, options: ReadOptions): Promise<ReadResult> {
    return this.files.run(
      "read",
      stream,
      () => assertReadOptions(options),
      async (path) => {
        const log = await loadStreamLog(path, stream);
        if (log === undefined) return { epoch: "", head: 0, earliest: 1, records: [] };
        this.retain(log, this.clock());
        const skip = Math.max(0, options.after - log.base);
        return { ...stateOf(log), records: log.records.slice(skip, skip + options.limit) };
      },
    );
  }

  head(stream: string): Promise<StreamHead> {
    return this.files.run(
      "head",
      stream,
      () => undefined,
      async (path) => {
        const log = await loadStreamLog(path, stream);
        if (log === undefined) return { epoch: "", head: 0, earliest: 1 };
        this.retain(log, this.clock());
        return stateOf(log);
      },
    );
  }

  reset(stream: string): Promise<StreamHead> {
    return this.files.run(
      "reset",
      stream,
      () => undefined,
      async (path) => {
        const epoch = newId();
        await replaceDurably(path, headerLine({ stream, epoch, base: 0 }));
        return { epoch, head: 0, earliest: 1 };
      },
    );
  }

  close(): Promise<void> {
    return this.files.close();
  }

  /** Drops records beyond `maxLength` or older than `maxAgeMs` from the front; returns how many. */
  private retain(log: StreamLog, now: number): number {
    let drop = Math.max(0, log.records.length - this.maxLength);
    const maxAgeMs = this.maxAgeMs;
    if (maxAgeMs !== undefined) {
      while (drop < log.records.length && now - log.records[drop]!.time > maxAgeMs) drop++;
    }
    log.records.splice(0, drop);
    log.base += drop;
    return drop;
  }
}

function stateOf(log: StreamLog): StreamHead {
  return { epoch: log.epoch, head: log.base + log.records.length, earliest: log.base + 1 };
}
