import { type Clock, ServerClock } from "@assured/core/store";
import type { Pool } from "pg";

/** A store's time source: the injected clock, or the database server's. */
export type StoreTime = () => Promise<number>;

/**
 * Without an injected `clock`: the database server's clock (`clock_timestamp()`, read once and
 * carried forward on the monotonic clock; see `ServerClock`), so every node that shares the
 * database stamps append times and judges leases and TTLs alike, whatever its own wall clock
 * says (DESIGN.md §8). With one (tests), that clock.
 */
export function storeTime(pool: Pool, injected: Clock | undefined): StoreTime {
  if (injected !== undefined) return async () => injected();
  const server = new ServerClock(async () => {
    const { rows } = await pool.query<{ now: number }>(
      "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::double precision AS now",
    );
    return rows[0]!.now;
  });
  return () => server.now();
}
