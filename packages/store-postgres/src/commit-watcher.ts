import { backoffDelay, DEFAULT_RETRY_POLICY } from "@assured/core/protocol";
import type { CommittedRange } from "@assured/core/store";
import type pg from "pg";
import { bytesText, textBytes } from "./bytes.js";
import { parseCommitPayload } from "./commit-channel.js";
import type { Tables } from "./tables.js";

/** A `watchCommits` listener. */
export type CommitListener = (commit: CommittedRange) => void;

/** Most streams whose last reported offset is remembered for the catch-up after a reconnect. */
export const MAX_TRACKED_STREAMS = 10_000;

/** Ignores errors of a client that is being dropped (an unhandled `error` event would crash). */
function ignore(): void {}

/**
 * The `LISTEN` side of transactional publish: one dedicated connection (never one of the
 * pool's) listening on the store's channel while at least one listener is registered.
 *
 * - A lost connection (server restart, `pg_terminate_backend`, network) is replaced, with
 *   exponential backoff and jitter (`RECONNECT_POLICY`), for as long as listeners remain.
 * - Notifications sent while it was down are lost (PostgreSQL queues them only for listening
 *   sessions). After a reconnect the watcher reads the heads of the streams it reported
 *   before (the `MAX_TRACKED_STREAMS` most recent) and reports what they gained, before any
 *   report received on the new connection; a stream first written during the outage is
 *   reported from its next commit on (its subscribers' clients repair the rest by fetching).
 * - A listener that throws is ignored for that report; nothing here rejects or crashes.
 */
export class CommitWatcher {
  private readonly listeners = new Set<CommitListener>();
  private client: pg.Client | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private listenedBefore = false;
  private closed = false;
  /** Reports that arrived while a catch-up was being read; delivered after it. */
  private held: CommittedRange[] | undefined;
  /** Last reported offset per stream (insertion order = recency), for the catch-up. */
  private readonly reported = new Map<string, { epoch: string; last: number }>();
  private listening = deferred();

  constructor(
    private readonly createClient: () => pg.Client,
    private readonly channel: string,
    private readonly tables: Tables,
  ) {}

  /** Registers `listener`; the first one opens the connection. Returns its unsubscribe. */
  add(listener: CommitListener): () => void {
    const wrapped: CommitListener = (commit) => listener(commit);
    this.listeners.add(wrapped);
    if (this.listeners.size === 1 && this.client === undefined && this.timer === undefined) {
      this.open();
    }
    return () => {
      if (!this.listeners.delete(wrapped) || this.listeners.size > 0) return;
      this.stop();
    };
  }

  /** Resolves once the connection listens (at once when nothing is watched). */
  ready(): Promise<void> {
    return this.listeners.size === 0 || this.closed ? Promise.resolve() : this.listening.promise;
  }

  /** Stops for good (the store's `close()`). */
  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.stop();
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) client.end().catch(ignore);
    this.listenedBefore = false;
    this.held = undefined;
    this.reported.clear();
    this.attempt = 0;
    this.listening.resolve();
    this.listening = deferred();
  }

  private open(): void {
    if (this.closed || this.listeners.size === 0) return;
    let client: pg.Client;
    try {
      client = this.createClient();
    } catch {
      this.retry();
      return;
    }
    this.client = client;
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("the LISTEN connection ended")));
    client.on("notification", (message) => {
      if (this.client !== client || message.channel !== this.channel) return;
      const range = parseCommitPayload(message.payload);
      if (range !== undefined) this.received(range);
    });
    void this.listen(client);
  }

  private async listen(client: pg.Client): Promise<void> {
    // Hold reports from the first one on: the driver may emit a notification that came in the
    // same packet as LISTEN's answer before this function resumes.
    const catchingUp = this.listenedBefore && this.reported.size > 0;
    if (catchingUp) this.held = [];
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.client !== client) return;
    this.attempt = 0;
    this.listenedBefore = true;
    if (catchingUp) {
      const gained = await this.catchUp(client).catch(() => []);
      if (this.client !== client) return;
      const held = this.held ?? [];
      this.held = undefined;
      for (const range of gained) this.deliver(range);
      // A held report the catch-up already covered (it committed before the heads were read).
      for (const range of held) if (!this.covered(range)) this.deliver(range);
    }
    this.listening.resolve();
  }

  /** What the tracked streams gained while the connection was down (same epoch, or a new one). */
  private async catchUp(client: pg.Client): Promise<CommittedRange[]> {
    const names = [...this.reported.keys()];
    const { rows } = await client.query<{ stream_name: Buffer; epoch: string; head: string }>(
      `SELECT stream_name, epoch, head FROM ${this.tables.streams} WHERE stream_name = ANY($1::bytea[])`,
      [names.map(textBytes)],
    );
    const gained: CommittedRange[] = [];
    for (const row of rows) {
      const stream = bytesText(row.stream_name);
      const head = Number(row.head);
      const known = this.reported.get(stream);
      if (known === undefined || head === 0) continue;
      if (row.epoch !== known.epoch) {
        gained.push({ stream, epoch: row.epoch, first: 1, last: head });
      } else if (head > known.last) {
        gained.push({ stream, epoch: row.epoch, first: known.last + 1, last: head });
      }
    }
    return gained;
  }

  private received(range: CommittedRange): void {
    if (this.held !== undefined) this.held.push(range);
    else this.deliver(range);
  }

  private deliver(range: CommittedRange): void {
    this.track(range);
    for (const listener of [...this.listeners]) {
      try {
        listener({ ...range });
      } catch {
        // A listener's failure is its own; the others still get the report.
      }
    }
  }

  private covered(range: CommittedRange): boolean {
    const known = this.reported.get(range.stream);
    return known !== undefined && known.epoch === range.epoch && range.last <= known.last;
  }

  private track(range: CommittedRange): void {
    const known = this.reported.get(range.stream);
    this.reported.delete(range.stream);
    const last =
      known !== undefined && known.epoch === range.epoch
        ? Math.max(known.last, range.last)
        : range.last;
    this.reported.set(range.stream, { epoch: range.epoch, last });
    if (this.reported.size > MAX_TRACKED_STREAMS) {
      this.reported.delete(this.reported.keys().next().value!);
    }
  }

  private lost(client: pg.Client, _error: unknown): void {
    client.removeAllListeners("notification");
    client.on("error", ignore);
    if (this.client !== client) return;
    this.client = undefined;
    this.held = undefined;
    client.end().catch(ignore);
    this.retry();
  }

  /** Schedules the next connection attempt while listeners remain. */
  private retry(): void {
    if (this.closed || this.listeners.size === 0) return;
    if (this.listening.settled) this.listening = deferred();
    this.attempt++;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.open();
      },
      backoffDelay(this.attempt, RECONNECT_POLICY, Math.random),
    );
    this.timer.unref?.();
  }
}

/** Reconnect schedule: up to 0.1 s, 0.2 s, … capped at 5 s (a short outage is missed briefly). */
const RECONNECT_POLICY = { ...DEFAULT_RETRY_POLICY, initialMs: 100, maxMs: 5_000 };

interface Deferred {
  promise: Promise<void>;
  settled: boolean;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  const d: Deferred = {
    promise,
    settled: false,
    resolve: () => {
      d.settled = true;
      resolve();
    },
  };
  return d;
}
