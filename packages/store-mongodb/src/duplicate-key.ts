import { mongoDriver } from "./driver.js";

const DUPLICATE_KEY = 11000;

/** True for a duplicate-key error (E11000) from a single write. */
export function isDuplicateKeyError(error: unknown): boolean {
  return error instanceof mongoDriver().MongoServerError && error.code === DUPLICATE_KEY;
}

/** Where an ordered `insertMany` stopped on a duplicate key, and which index, when told. */
export interface InsertConflict {
  /** Documents before this index were inserted. */
  index: number;
  /** The violated index's key fields; MongoDB says, FerretDB does not. */
  keyFields: string[] | undefined;
}

/** The duplicate-key stop of an ordered `insertMany`, or undefined for any other error. */
export function insertConflictOf(error: unknown): InsertConflict | undefined {
  if (!(error instanceof mongoDriver().MongoBulkWriteError)) return undefined;
  const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  const first = writeErrors[0];
  if (first === undefined || first.code !== DUPLICATE_KEY) return undefined;
  const keyPattern = (first.err as { keyPattern?: Record<string, unknown> } | undefined)
    ?.keyPattern;
  return {
    index: first.index,
    keyFields: keyPattern === undefined ? undefined : Object.keys(keyPattern),
  };
}

/**
 * The indexes of an unordered `insertMany`'s documents refused as duplicate keys, or undefined
 * when it failed otherwise (any other write error included).
 */
export function duplicateIndexes(error: unknown): number[] | undefined {
  if (!(error instanceof mongoDriver().MongoBulkWriteError)) return undefined;
  const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  if (writeErrors.length === 0 || writeErrors.some((e) => e.code !== DUPLICATE_KEY)) {
    return undefined;
  }
  return writeErrors.map((e) => e.index);
}
