import { AssuredError } from "@assured/core";
import type { Pool, PoolClient } from "pg";
import type { Tables } from "./tables.js";
import { inTransaction } from "./transaction.js";

/**
 * The schema, as a list of migrations: `migrations(t)[v]` brings the tables from version `v` to
 * `v + 1`. A release that changes the schema appends one; tables written by an older release
 * are migrated on first use. Names, ids, keys, owners, tokens and fingerprints are `bytea`
 * (their UTF-8 bytes): PostgreSQL `text` cannot hold NUL, and byte equality never normalizes.
 */
function migrations(t: Tables): readonly string[] {
  return [
    `
    CREATE TABLE ${t.meta} (
      key text PRIMARY KEY,
      value bigint NOT NULL
    );
    CREATE TABLE ${t.streams} (
      stream_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream_name bytea NOT NULL UNIQUE,
      epoch text NOT NULL,
      head bigint NOT NULL
    );
    CREATE TABLE ${t.events} (
      stream_id bigint NOT NULL,
      event_offset bigint NOT NULL,
      event_id bytea NOT NULL,
      event_name bytea NOT NULL,
      payload bytea NOT NULL,
      appended_at double precision NOT NULL,
      PRIMARY KEY (stream_id, event_offset),
      UNIQUE (stream_id, event_id)
    );
    CREATE TABLE ${t.dedup} (
      dedup_key bytea PRIMARY KEY,
      fingerprint bytea NOT NULL,
      state text NOT NULL CHECK (state IN ('claimed', 'done')),
      token bytea,
      expires_at double precision NOT NULL,
      response_ok boolean,
      response_payload bytea,
      owner bytea,
      fence bigint NOT NULL,
      lease_ms double precision
    );
    CREATE INDEX ${t.index.dedupByOwner} ON ${t.dedup} (owner, expires_at) WHERE owner IS NOT NULL;
    CREATE INDEX ${t.index.dedupByExpiry} ON ${t.dedup} (expires_at);
    `,
    // Version 2: per-owner upper bounds on dedup rows, so a claim checks a quota with one
    // lookup instead of counting the owner's rows. Writes to the dedup table wait for the
    // migration (SHARE lock), so the first figures count every row; from then on the triggers
    // add what each statement inserts (one upsert per owner, owners in order) or takes over,
    // whichever release of the store writes.
    `
    LOCK TABLE ${t.dedup} IN SHARE MODE;
    CREATE TABLE ${t.dedupOwners} (
      owner bytea PRIMARY KEY,
      entries bigint NOT NULL
    );
    INSERT INTO ${t.dedupOwners} (owner, entries)
      SELECT owner, count(*) FROM ${t.dedup} WHERE owner IS NOT NULL GROUP BY owner;
    CREATE FUNCTION ${t.functions.ownerRowsInserted}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO ${t.dedupOwners} AS o (owner, entries)
        SELECT owner, count(*) FROM inserted_rows WHERE owner IS NOT NULL
        GROUP BY owner ORDER BY owner
        ON CONFLICT (owner) DO UPDATE SET entries = o.entries + excluded.entries;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER ${t.index.ownerRowsInserted} AFTER INSERT ON ${t.dedup}
      REFERENCING NEW TABLE AS inserted_rows
      FOR EACH STATEMENT EXECUTE FUNCTION ${t.functions.ownerRowsInserted}();
    CREATE FUNCTION ${t.functions.ownerRowTaken}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO ${t.dedupOwners} AS o (owner, entries) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET entries = o.entries + 1;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER ${t.index.ownerRowTaken} AFTER UPDATE OF owner ON ${t.dedup}
      FOR EACH ROW WHEN (NEW.owner IS NOT NULL AND NEW.owner IS DISTINCT FROM OLD.owner)
      EXECUTE FUNCTION ${t.functions.ownerRowTaken}();
    `,
  ];
}

/** The schema version this release writes. */
export const SCHEMA_VERSION = 2;

/** The stored schema version; 0 when the tables do not exist yet. */
async function readSchemaVersion(db: Pool | PoolClient, t: Tables): Promise<number> {
  const { rows } = await db.query<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [t.meta],
  );
  if (rows[0]?.exists !== true) return 0;
  const version = await db.query<{ value: string }>(
    `SELECT value FROM ${t.meta} WHERE key = 'schema_version'`,
  );
  return version.rows.length === 0 ? 0 : Number(version.rows[0]!.value);
}

function refuseNewer(found: number, t: Tables): AssuredError {
  return new AssuredError(
    "STORE_CORRUPT",
    `the tables ${t.meta} and others have Assured schema version ${found}, newer than version ` +
      `${SCHEMA_VERSION} that this release of @assured/store-postgres understands; upgrade the ` +
      "package (every node sharing the database) to use them.",
    { details: { schemaVersion: found, supportedVersion: SCHEMA_VERSION } },
  );
}

/**
 * Brings the tables to `SCHEMA_VERSION`: creates the schema and tables on first use, inside one
 * transaction holding an advisory lock on the schema and prefix, so concurrent first users
 * migrate once. Throws `STORE_CORRUPT` for tables written by a newer release.
 */
export async function ensureSchema(pool: Pool, t: Tables): Promise<void> {
  const current = await readSchemaVersion(pool, t);
  if (current === SCHEMA_VERSION) return;
  if (current > SCHEMA_VERSION) throw refuseNewer(current, t);
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
      `assured-schema:${t.lockScope}`,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
    const found = await readSchemaVersion(client, t);
    if (found > SCHEMA_VERSION) throw refuseNewer(found, t);
    const steps = migrations(t);
    for (let version = found; version < SCHEMA_VERSION; version++) {
      await client.query(steps[version]!);
    }
    await client.query(
      `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', $1) ` +
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      [SCHEMA_VERSION],
    );
  });
}
