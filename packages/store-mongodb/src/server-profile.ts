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
  /**
   * Most documents one ordered `insertMany` may hold and still stop at its first failure.
   * FerretDB inserts in batches of 100 and goes on with the next batch after a failed document,
   * so an append inserts at most 100 at a time there. It follows the server itself, whatever
   * code path is forced.
   */
  orderedInsertLimit: number;
}

/** How many documents FerretDB inserts in one internal batch (see `orderedInsertLimit`). */
const FERRETDB_INSERT_BATCH = 100;

/**
 * Detects the server from `buildInfo` (FerretDB reports `ferretdbVersion`); a forced kind
 * chooses the code path, and `buildInfo` (when it answers) still tells the insert limit.
 */
export async function detectServerProfile(db: Db, forced: MongoServerKind): Promise<ServerProfile> {
  const ferretdb =
    forced === "ferretdb" ||
    (await db
      .admin()
      .command({ buildInfo: 1 })
      .then(
        (info) => "ferretdbVersion" in info,
        (error: unknown) => {
          if (forced === "auto") throw error;
          return false;
        },
      ));
  const kind = forced === "auto" ? (ferretdb ? "ferretdb" : "mongodb") : forced;
  return {
    kind,
    rangeQueries: kind === "mongodb",
    atomicUpdates: kind === "mongodb",
    orderedInsertLimit: ferretdb ? FERRETDB_INSERT_BATCH : Number.POSITIVE_INFINITY,
  };
}
