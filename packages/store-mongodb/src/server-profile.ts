import type { Db } from "mongodb";
import type { MongoServerKind } from "./options.js";

/**
 * The server-specific choices of a store. MongoDB answers range queries from its indexes and
 * expires documents with TTL indexes. FerretDB 1.x on SQLite evaluates every filter except
 * `{ _id: <string> }` by scanning the collection and has no TTL indexes: there the store reads
 * by point lookups on `_id` and deletes expired data with its own sweep. FerretDB also applies
 * the filter of an update or delete in one transaction and the write in another, so a
 * conditional update is no compare-and-set: there only unique inserts arbitrate races.
 */
export interface ServerProfile {
  kind: "mongodb" | "ferretdb";
  /** Range queries on `_id` use an index (else: point lookups). */
  rangeQueries: boolean;
  /** A filtered update or delete is atomic (a compare-and-set). */
  atomicUpdates: boolean;
}

/** Detects the server from `buildInfo` (FerretDB reports `ferretdbVersion`) unless forced. */
export async function detectServerProfile(db: Db, forced: MongoServerKind): Promise<ServerProfile> {
  let kind = forced;
  if (kind === "auto") {
    const info = await db.admin().command({ buildInfo: 1 });
    kind = "ferretdbVersion" in info ? "ferretdb" : "mongodb";
  }
  return { kind, rangeQueries: kind === "mongodb", atomicUpdates: kind === "mongodb" };
}
