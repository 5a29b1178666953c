import { type Clock, ServerClock } from "@assured/core/store";
import type { Db } from "mongodb";

/** The clocks a Mongo store judges time by. */
export interface StoreClocks {
  /** Leases, TTLs and the other times stored in documents (ms). */
  clock: Clock;
  /** The wall time for `Date` fields a TTL index reads (the server deletes by its own clock). */
  wall: Clock;
}

/**
 * Without an injected `clock`: the server's own clock (`hello`'s `localTime`, carried forward on
 * the monotonic clock; see `ServerClock`), for both, so every node that shares the database
 * judges a lease alike and the TTL index deletes nothing early, whatever a node's wall clock
 * says (DESIGN.md §8). With one (tests), that clock, and `Date.now` for TTL index dates. Reads
 * the server's clock once before answering.
 */
export async function storeClocks(db: Db, injected: Clock | undefined): Promise<StoreClocks> {
  if (injected !== undefined) return { clock: injected, wall: Date.now };
  const server = new ServerClock(async () => {
    const hello = (await db.command({ hello: 1 })) as { localTime?: Date };
    if (!(hello.localTime instanceof Date)) throw new Error("hello gave no localTime");
    return hello.localTime.getTime();
  });
  await server.now();
  const clock = () => server.current();
  return { clock, wall: clock };
}
