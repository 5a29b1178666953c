import { AssuredError } from "@assured/core";
import type Database from "better-sqlite3";

/**
 * The schema, as a list of migrations: `MIGRATIONS[v]` brings a file from version `v` to
 * `v + 1`. A release that changes the schema appends one; files written by an older release are
 * migrated when opened. The version lives in the `assured_meta` table (not `PRAGMA user_version`,
 * which an application sharing the file may use for its own schema).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE assured_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- One row per stream that has a log: its epoch and the last offset it assigned.
  CREATE TABLE assured_streams (
    stream_id INTEGER PRIMARY KEY,
    stream_name TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    head INTEGER NOT NULL
  );

  -- The retained events of every stream, keyed by offset; ids are unique per stream.
  CREATE TABLE assured_events (
    stream_id INTEGER NOT NULL,
    event_offset INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    payload BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    PRIMARY KEY (stream_id, event_offset)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX assured_events_by_id ON assured_events (stream_id, event_id);

  -- Dedup keys: a lease while claimed, the stored response once done.
  CREATE TABLE assured_dedup (
    dedup_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    token TEXT,
    expires_at INTEGER NOT NULL,
    response_ok INTEGER,
    response_payload BLOB
  );
  CREATE INDEX assured_dedup_by_expiry ON assured_dedup (expires_at);
  `,
  `
  -- Dedup quotas: each claim may name an owner, whose unexpired rows are bounded.
  ALTER TABLE assured_dedup ADD COLUMN owner TEXT;
  CREATE INDEX assured_dedup_by_owner ON assured_dedup (owner, expires_at)
    WHERE owner IS NOT NULL;

  -- Row counts of assured_dedup, kept exact by the triggers below in the writing transaction:
  -- per owner (only owners with rows), and in all under owner '' (owner ids are never empty).
  -- They count expired rows not yet deleted too; a claim at a bound deletes those first.
  CREATE TABLE assured_dedup_counts (
    owner TEXT PRIMARY KEY,
    entries INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO assured_dedup_counts (owner, entries) SELECT '', count(*) FROM assured_dedup;

  CREATE TRIGGER assured_dedup_count_insert AFTER INSERT ON assured_dedup BEGIN
    UPDATE assured_dedup_counts SET entries = entries + 1 WHERE owner = '';
    INSERT INTO assured_dedup_counts (owner, entries) SELECT NEW.owner, 1
      WHERE NEW.owner IS NOT NULL
      ON CONFLICT (owner) DO UPDATE SET entries = entries + 1;
  END;
  CREATE TRIGGER assured_dedup_count_delete AFTER DELETE ON assured_dedup BEGIN
    UPDATE assured_dedup_counts SET entries = entries - 1 WHERE owner = '';
    UPDATE assured_dedup_counts SET entries = entries - 1 WHERE owner = OLD.owner;
    DELETE FROM assured_dedup_counts WHERE owner = OLD.owner AND entries <= 0;
  END;
  CREATE TRIGGER assured_dedup_count_owner AFTER UPDATE OF owner ON assured_dedup
    WHEN OLD.owner IS NOT NEW.owner BEGIN
    UPDATE assured_dedup_counts SET entries = entries - 1 WHERE owner = OLD.owner;
    DELETE FROM assured_dedup_counts WHERE owner = OLD.owner AND entries <= 0;
    INSERT INTO assured_dedup_counts (owner, entries) SELECT NEW.owner, 1
      WHERE NEW.owner IS NOT NULL
      ON CONFLICT (owner) DO UPDATE SET entries = entries + 1;
  END;
  `,
  `
  -- Fenced leases: the fencing token of the key's latest claim (kept through complete and
  -- release, so the next claim's is one more), and the length of the lease its holder last
  -- asked for (a claim or a renewal), which bounds a lease end stamped by a clock ahead.
  ALTER TABLE assured_dedup ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE assured_dedup ADD COLUMN lease_ms INTEGER;
  `,
  `
  -- Transactional publish: one row per application transaction that appended events
  -- (appendInTransaction), written in that transaction, so watchers (watchCommits) learn of
  -- committed ranges only. Ids grow in commit order (one writer at a time); rows older than a
  -- minute are deleted by later appends. (IF NOT EXISTS: a file whose version was set back keeps it.)
  CREATE TABLE IF NOT EXISTS assured_commits (
    commit_id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_name TEXT NOT NULL,
    epoch TEXT NOT NULL,
    first_offset INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    committed_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS assured_commits_by_time ON assured_commits (committed_at);
  `,
];

/** The schema version this release writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The schema version stored in the file; 0 for a file without the Assured tables. */
export function readSchemaVersion(db: Database.Database): number {
  const hasMeta = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'assured_meta'")
    .pluck()
    .get();
  if (hasMeta === undefined) return 0;
  const version = db
    .prepare("SELECT value FROM assured_meta WHERE key = 'schema_version'")
    .pluck()
    .get();
  return typeof version === "number" ? version : 0;
}

function refuseNewer(found: number): AssuredError {
  return new AssuredError(
    "STORE_CORRUPT",
    `the database has Assured schema version ${found}, newer than version ${SCHEMA_VERSION} ` +
      "that this release of @assured/store-sqlite understands; upgrade the package to open it.",
    { details: { schemaVersion: found, supportedVersion: SCHEMA_VERSION } },
  );
}

/**
 * Brings the file's schema to `SCHEMA_VERSION`, inside one write transaction so concurrent
 * openers migrate once. Throws `STORE_CORRUPT` for a file written by a newer release.
 */
export function ensureSchema(db: Database.Database): void {
  const current = readSchemaVersion(db);
  if (current === SCHEMA_VERSION) return;
  if (current > SCHEMA_VERSION) throw refuseNewer(current);
  db.transaction(() => {
    const found = readSchemaVersion(db);
    if (found > SCHEMA_VERSION) throw refuseNewer(found);
    for (let version = found; version < SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version]!);
    }
    db.prepare(
      "INSERT INTO assured_meta (key, value) VALUES ('schema_version', ?) " +
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(SCHEMA_VERSION);
  }).immediate();
}
