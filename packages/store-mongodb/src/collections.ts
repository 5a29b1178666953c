import type { Binary, Collection, Db, MongoServerError } from "mongodb";
import type { EventDocument, StreamDocument } from "./documents.js";
import type { ResolvedStoreOptions } from "./options.js";
import type { LockDocument } from "./retention-sweep.js";

/** A stored dedup claim or response. */
export interface DedupDocument {
  /** The dedup key. */
  _id: string;
  /** Fingerprint of the message. */
  f: string;
  /** "lease" while a handler runs, "done" once the response is stored. */
  st: "lease" | "done";
  /**
   * The state's token: every transition (claim, takeover, renewal, complete, release, sweep)
   * leaves it for a new one, so a state can be left only once. While leased, also the holder's
   * token unless `h` is set.
   */
  tok: string;
  /**
   * The holder's token (the claim's), when it is not `tok`: after a renewal on FerretDB, which
   * moves the lease to a new state token (see `lockedTransitions`).
   */
  h?: string;
  /** Lease end (store clock, ms); 0 once released. */
  le: number;
  /**
   * The fencing token of the key's latest claim; the next claim's is one more, or the store
   * clock in ms when larger. Kept through complete and release; absent on documents written
   * before fencing (counts as 0).
   */
  fc?: number;
  /** The response: ok flag and payload bytes, when done. */
  ok?: boolean;
  r?: Binary;
  /** Response expiry (store clock, ms), when done. */
  ex?: number;
  /** The claim's owner id, when it had one (quotas count these). */
  o?: string;
  /** Until when the current state counts (store clock, ms): `le` while leased, `ex` when done. */
  u?: number;
  /** When the server may delete the document (TTL index). */
  x: Date;
}

const NOT_IMPLEMENTED = 238;

function collectionOptions(options: ResolvedStoreOptions) {
  return {
    writeConcern: options.writeConcern,
    readConcern: { level: options.readConcern },
    readPreference: "primary" as const,
  };
}

/**
 * Creates a TTL index on `x` unless the server lacks TTL indexes (FerretDB answers
 * NotImplemented); returns whether it exists.
 */
async function ensureTtlIndex(collection: Collection<never>): Promise<boolean> {
  try {
    await collection.createIndex({ x: 1 }, { name: "expire_at", expireAfterSeconds: 0 });
    return true;
  } catch (error) {
    if ((error as MongoServerError).code === NOT_IMPLEMENTED) return false;
    throw error;
  }
}

/** The event store's collections, as seen by readers and by appenders. */
export interface EventCollections {
  /** With the configured read concern: what `read` and `head` use. */
  read: { events: Collection<EventDocument>; streams: Collection<StreamDocument> };
  /** With read concern "local": appenders must see the newest head, committed or not. */
  write: { events: Collection<EventDocument>; streams: Collection<StreamDocument> };
  /** Sweep election and transition locks. */
  locks: Collection<LockDocument>;
  /** The server deletes expired events itself (TTL index). */
  ttl: boolean;
}

/** Opens `<prefix>events` and `<prefix>streams` and creates their indexes if missing. */
export async function prepareEventCollections(
  db: Db,
  options: ResolvedStoreOptions,
): Promise<EventCollections> {
  const eventsName = `${options.collectionPrefix}events`;
  const streamsName = `${options.collectionPrefix}streams`;
  const reading = collectionOptions(options);
  const writing = { ...reading, readConcern: { level: "local" as const } };
  const events = db.collection<EventDocument>(eventsName, reading);
  await events.createIndex({ s: 1, e: 1, o: 1 }, { name: "stream_epoch_offset", unique: true });
  await events.createIndex({ s: 1, e: 1, i: 1 }, { name: "stream_epoch_id", unique: true });
  const ttl = await ensureTtlIndex(events as unknown as Collection<never>);
  const locks = db.collection<LockDocument>(`${options.collectionPrefix}locks`, writing);
  return {
    read: { events, streams: db.collection<StreamDocument>(streamsName, reading) },
    write: {
      events: db.collection<EventDocument>(eventsName, writing),
      streams: db.collection<StreamDocument>(streamsName, writing),
    },
    locks,
    ttl,
  };
}

/** The dedup store's collection, with its TTL index where the server has them. */
export interface DedupCollections {
  dedup: Collection<DedupDocument>;
  /**
   * The same collection read with read concern "local": an owner's count must see every entry
   * whose insert was acknowledged before it started (see `MongoDedupStore`'s quota).
   */
  dedupLocal: Collection<DedupDocument>;
  /** Sweep election and transition locks (`<prefix>locks`). */
  locks: Collection<LockDocument>;
  /** Owners' claim counters (`<prefix>dedup_owners`, read concern "local"; `OwnerTally`). */
  owners: Collection<OwnerCounterDocument>;
  ttl: boolean;
}

/** One store instance's counter of an owner's claims (see `OwnerTally`). */
export interface OwnerCounterDocument {
  /** The counter's id (new for each counter an instance starts). */
  _id: string;
  /** The owner id. */
  o: string;
  /** Claims added to this counter. */
  n: number;
  /** When the server may delete it (TTL index; the sweep on FerretDB). */
  x: Date;
}

/** Opens `<prefix>dedup` and creates its TTL index if the server supports it. */
export async function prepareDedupCollections(
  db: Db,
  options: ResolvedStoreOptions,
): Promise<DedupCollections> {
  const dedup = db.collection<DedupDocument>(
    `${options.collectionPrefix}dedup`,
    collectionOptions(options),
  );
  const ttl = await ensureTtlIndex(dedup as unknown as Collection<never>);
  // An owner's unexpired entries, counted by a claim with a quota (an index range on MongoDB).
  await dedup.createIndex({ o: 1, u: 1 }, { name: "owner_until" });
  // Expired entries by the store clock, deleted by a claim that finds the store at `maxEntries`.
  await dedup.createIndex({ u: 1 }, { name: "until" });
  const local = { ...collectionOptions(options), readConcern: { level: "local" as const } };
  const dedupLocal = db.collection<DedupDocument>(`${options.collectionPrefix}dedup`, local);
  const locks = db.collection<LockDocument>(`${options.collectionPrefix}locks`, local);
  const owners = db.collection<OwnerCounterDocument>(
    `${options.collectionPrefix}dedup_owners`,
    local,
  );
  await owners.createIndex({ o: 1 }, { name: "owner" });
  if (ttl) await ensureTtlIndex(owners as unknown as Collection<never>);
  return { dedup, dedupLocal, locks, owners, ttl };
}
