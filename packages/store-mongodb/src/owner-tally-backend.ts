import type { Collection } from "mongodb";
import type { DedupDocument, OwnerCounterDocument } from "./collections.js";
import type { OwnerTallyBackend } from "./owner-tally.js";

/**
 * How long an owner's counter is kept after its last write (its deletion costs at most a count;
 * it must outlive `BASELINE_MAX_AGE_MS`).
 */
export const OWNER_COUNTER_KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * `OwnerTally`'s reads and writes on MongoDB and FerretDB: a counter is one document, written by
 * `_id` with an upsert; an owner's counters are read by the index `{ o }` (a pass over the small
 * counter collection on FerretDB); the counts read the dedup collection with read concern
 * "local" (index `{ o, u }` on MongoDB).
 */
export function mongoOwnerTallyBackend(
  owners: Collection<OwnerCounterDocument>,
  dedupLocal: Collection<DedupDocument>,
  wall: () => number,
): OwnerTallyBackend {
  return {
    async write(id, owner, claims) {
      await owners.updateOne(
        { _id: id },
        { $set: { o: owner, n: claims, x: new Date(wall() + OWNER_COUNTER_KEEP_MS) } },
        { upsert: true },
      );
    },
    async read(owner) {
      const docs = await owners.find({ o: owner }, { projection: { n: 1 } }).toArray();
      return new Map(docs.map((doc) => [doc._id, doc.n]));
    },
    countAll: (owner, limit) => dedupLocal.countDocuments({ o: owner }, { limit }),
    countLive: (owner, now, limit) =>
      dedupLocal.countDocuments({ o: owner, u: { $gt: now } }, { limit }),
  };
}
