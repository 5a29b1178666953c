import type { CommittedRange } from "@assured/core/store";
import type pg from "pg";
import type { PostgresEventStore } from "../src/index.js";

/** Collects a store's commit reports; `until` resolves once a predicate over them holds. */
export class CommitReports {
  readonly all: CommittedRange[] = [];
  private waiters: { test: () => boolean; resolve: () => void }[] = [];
  readonly stop: () => void;

  constructor(store: PostgresEventStore) {
    this.stop = store.watchCommits((commit) => {
      this.all.push(commit);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.test()) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  /** The reports of `stream`. */
  of(stream: string): CommittedRange[] {
    return this.all.filter((report) => report.stream === stream);
  }

  /** Resolves once `test` holds; rejects after `ms` with what was reported. */
  until(test: (all: CommittedRange[]) => boolean, ms = 10_000): Promise<void> {
    if (test(this.all)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out; reports: ${JSON.stringify(this.all)}`)),
        ms,
      );
      this.waiters.push({
        test: () => test(this.all),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Resolves once `stream` was reported up to `last`. */
  reached(stream: string, last: number, ms?: number): Promise<void> {
    return this.until(() => this.of(stream).some((report) => report.last >= last), ms);
  }
}

/** Runs `work` between BEGIN and COMMIT on a client of `pool` (ROLLBACK when it throws). */
export async function transaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Polls `condition` every 20 ms until it holds (for states only the database can tell). */
export async function eventually(
  condition: () => Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
