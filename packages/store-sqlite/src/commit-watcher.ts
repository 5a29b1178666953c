import type { CommittedRange } from "@assured/core/store";
import type Database from "better-sqlite3";

/** How often the watcher looks for commits of other connections, in ms. */
export const COMMIT_POLL_INTERVAL_MS = 5;
/** Feed rows read per query; a poll reads at most `MAX_PAGES_PER_POLL` pages. */
const FEED_PAGE = 500;
const MAX_PAGES_PER_POLL = 20;

type FeedRow = [id: number, stream: string, epoch: string, first: number, last: number];

/**
 * Reports the ranges of the commit feed (`assured_commits`, written by `appendInTransaction`)
 * to listeners once committed. A commit by another connection or process cannot notify this
 * one, so while a listener exists the watcher polls `PRAGMA data_version` (it changes when
 * another connection committed) every `COMMIT_POLL_INTERVAL_MS` on an unref'd timer, and reads
 * the feed rows after the last one it reported only then. A transaction on the store's own
 * connection does not change its `data_version`: `nudge` asks for a read once it has ended.
 * Reporting starts at the feed's end when the first listener comes (the past is for resume).
 */
export class CommitWatcher {
  readonly #listeners = new Set<(commit: CommittedRange) => void>();
  readonly #dataVersion: Database.Statement<[], number>;
  readonly #feedEnd: Database.Statement<[], number | null>;
  readonly #rowsAfter: Database.Statement<[number, number], FeedRow>;
  readonly #db: Database.Database;
  #timer: NodeJS.Timeout | undefined;
  #lastId = 0;
  #version = -1;
  #nudged = false;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#dataVersion = db.prepare<[], number>("PRAGMA data_version").pluck();
    this.#feedEnd = db
      .prepare<[], number | null>("SELECT max(commit_id) FROM assured_commits")
      .pluck();
    this.#rowsAfter = db
      .prepare<[number, number], FeedRow>(
        "SELECT commit_id, stream_name, epoch, first_offset, last_offset FROM assured_commits " +
          "WHERE commit_id > ? ORDER BY commit_id LIMIT ?",
      )
      .raw();
  }

  /** Adds a listener; returns the function that removes it (the last one stops the polling). */
  watch(listener: (commit: CommittedRange) => void): () => void {
    const wrapped = (commit: CommittedRange) => listener(commit);
    if (this.#listeners.size === 0) this.#start();
    this.#listeners.add(wrapped);
    return () => {
      if (!this.#listeners.delete(wrapped)) return;
      if (this.#listeners.size === 0) this.stop();
    };
  }

  /** A transaction of the store's own connection appended: read the feed once it has ended. */
  nudge(): void {
    if (this.#listeners.size === 0 || this.#nudged) return;
    this.#nudged = true;
    setImmediate(() => this.#poll());
  }

  /** Stops polling (until a listener comes again). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops polling and drops every listener (the store closes). */
  close(): void {
    this.stop();
    this.#listeners.clear();
  }

  #start(): void {
    try {
      this.#version = this.#dataVersion.get()!;
      this.#lastId = this.#feedEnd.get() ?? 0;
    } catch {
      // The first poll reads the feed from what it then holds; the past is for resume anyway.
      this.#version = -1;
    }
    this.#timer = setInterval(() => this.#poll(), COMMIT_POLL_INTERVAL_MS);
    this.#timer.unref();
  }

  #poll(): void {
    if (this.#listeners.size === 0 || !this.#db.open) return;
    // Inside a transaction of this connection the feed would show uncommitted rows.
    if (this.#db.inTransaction) return;
    try {
      const version = this.#dataVersion.get()!;
      if (version === this.#version && !this.#nudged) return;
      this.#version = version;
      this.#nudged = false;
      for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
        const rows = this.#rowsAfter.all(this.#lastId, FEED_PAGE);
        for (const [id, stream, epoch, first, last] of rows) {
          this.#lastId = id;
          this.#report({ stream, epoch, first, last });
        }
        if (rows.length < FEED_PAGE) return;
      }
      // More rows are waiting: read them on the next tick.
      this.#nudged = true;
    } catch {
      // Busy or closing: the next poll reads from the same row again (data_version kept).
      this.#nudged = true;
    }
  }

  #report(commit: CommittedRange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(commit);
      } catch {
        // A listener's failure is its own; the others and the feed go on.
      }
    }
  }
}
