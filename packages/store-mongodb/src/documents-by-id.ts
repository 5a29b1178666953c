import type { Collection, Filter } from "mongodb";

/**
 * The documents of `ids` (absent ones left out), by `_id`. MongoDB answers one `{ _id: { $in } }`
 * query from the `_id` index; FerretDB 1.x on SQLite evaluates that filter by scanning the whole
 * collection (220 ms for 32 ids among 5,000 documents on the test server), so with
 * `pointLookups` each id is read by its own `{ _id: <string> }` lookup, all sent at once (26 ms
 * for the same 32, whatever the collection's size).
 */
export async function documentsById<T extends { _id: string }>(
  collection: Collection<T>,
  ids: readonly string[],
  pointLookups: boolean,
): Promise<Map<string, T>> {
  const unique = [...new Set(ids)];
  const docs = pointLookups
    ? await Promise.all(unique.map((_id) => collection.findOne({ _id } as Filter<T>)))
    : await collection.find({ _id: { $in: unique } } as Filter<T>).toArray();
  const found = new Map<string, T>();
  for (const doc of docs) if (doc !== null) found.set(doc._id, doc as T);
  return found;
}
