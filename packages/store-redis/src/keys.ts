import { createHash } from "node:crypto";
import { AssuredError } from "@assured/core";
import { describe } from "@assured/core/store";

/** The key prefix used when none is configured. */
export const DEFAULT_KEY_PREFIX = "assured:";

/** Longest accepted key prefix, in characters. */
export const MAX_KEY_PREFIX_LENGTH = 128;

/**
 * Throws `INVALID_ARGUMENT` unless `prefix` is a usable key prefix: a string of at most 128
 * characters without `{` or `}` (a brace would move the Redis Cluster hash tag).
 */
export function assertKeyPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== "string" || prefix.length > MAX_KEY_PREFIX_LENGTH) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `keyPrefix must be a string of at most ${MAX_KEY_PREFIX_LENGTH} characters, got ${describe(prefix)}.`,
    );
  }
  if (/[{}]/.test(prefix)) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      "keyPrefix must not contain '{' or '}': they would change the Redis Cluster hash slot.",
    );
  }
}

/**
 * Encodes arbitrary text as base64url (RFC 4648 §5, no padding) of its UTF-8 bytes. The result
 * only holds `A–Z a–z 0–9 - _`, so it can sit inside a hash tag: distinct names give distinct
 * tags, and nothing in a name can end the tag early or add a key separator.
 */
export function encodeKeyPart(value: string): string {
  return Buffer.from(value, "utf8").toString("base64url");
}

/**
 * The Redis key of a stream's log: `<prefix>log:{<base64url(name)>}`. The whole log (records,
 * id index and metadata) lives in this one hash, so it sits in one Cluster slot and vanishes
 * as a whole.
 */
export function streamLogKey(prefix: string, stream: string): string {
  return `${prefix}log:{${encodeKeyPart(stream)}}`;
}

/** The Redis key of one deduplication entry: `<prefix>dedup:{<base64url(key)>}`. */
export function dedupEntryKey(prefix: string, key: string): string {
  return `${prefix}dedup:{${encodeKeyPart(key)}}`;
}

/** The owner `dedupOwnerTag` hashed last, and its tag. */
let lastOwner: string | undefined;
let lastTag = "";

/**
 * The hash tag of a dedup owner: base64url of the SHA-256 of its id (43 characters). Fixed
 * length whatever the id, so it fits in a claim token; it only holds `A–Z a–z 0–9 - _`.
 */
export function dedupOwnerTag(owner: string): string {
  // A batch's items usually share one owner (one socket's messages): its tag is hashed once.
  if (owner !== lastOwner) {
    lastTag = createHash("sha256").update(owner, "utf8").digest("base64url");
    lastOwner = owner;
  }
  return lastTag;
}

/** Whether `value` has the shape of a `dedupOwnerTag`. */
export function isDedupOwnerTag(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * The Redis key of a deduplication entry claimed with an owner:
 * `<prefix>dedup:{q:<owner tag>}:<base64url(key)>`. All of an owner's entries and its quota set
 * share the hash tag, so one script updates them atomically in one Redis Cluster slot. (An
 * entry without owner has the tag `{<base64url(key)>}`, which never holds `:`.)
 */
export function ownedDedupEntryKey(prefix: string, ownerTag: string, key: string): string {
  return `${prefix}dedup:{q:${ownerTag}}:${encodeKeyPart(key)}`;
}

/**
 * The Redis key of an owner's quota set: `<prefix>dedup-quota:{q:<owner tag>}`, a sorted set of
 * the owner's dedup keys scored by when each expires (store clock, ms).
 */
export function dedupQuotaKey(prefix: string, ownerTag: string): string {
  return `${prefix}dedup-quota:{q:${ownerTag}}`;
}

/**
 * The Redis key of the store's bound set: `<prefix>dedup-bound`, a sorted set with one member
 * per dedup entry (`dedupBoundMember`) scored by when the entry expires (store clock, ms). It
 * counts the entries of every owner for `maxEntries`; its own key, so its own Cluster slot.
 */
export function dedupBoundKey(prefix: string): string {
  return `${prefix}dedup-bound`;
}

/**
 * An entry's member in the bound set: base64url of the first 16 bytes of the SHA-256 of the
 * entry's Redis key (22 characters, whatever the key's length, so the set stays small).
 */
export function dedupBoundMember(entryKey: string): string {
  return createHash("sha256")
    .update(entryKey, "utf8")
    .digest()
    .subarray(0, 16)
    .toString("base64url");
}
