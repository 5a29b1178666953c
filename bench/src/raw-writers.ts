// The same bytes written with each database driver directly, without Assured: the baseline of
// the store-append comparison. Each writes one group of events in one round trip/transaction.
import type Database from "better-sqlite3";
import type { Redis } from "ioredis";
import type { Db } from "mongodb";
import type { Pool } from "pg";

/** Writes one group of event payloads to `stream` with the bare driver. */
export type RawWriter = (stream: string, payloads: readonly Uint8Array[]) => Promise<void>;

/** better-sqlite3: one INSERT per event in one transaction per group, into a plain table. */
export function sqliteRawWriter(db: Database.Database): RawWriter {
  db.exec(
    "CREATE TABLE IF NOT EXISTS raw_events (stream TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (stream, seq))",
  );
  const insert = db.prepare(
    "INSERT INTO raw_events (stream, seq, time, payload) VALUES (?, ?, ?, ?)",
  );
  const heads = new Map<string, number>();
  const writeGroup = db.transaction((stream: string, payloads: readonly Uint8Array[]) => {
    let seq = heads.get(stream) ?? 0;
    const now = Date.now();
    for (const payload of payloads) insert.run(stream, ++seq, now, payload);
    heads.set(stream, seq);
  });
  return async (stream, payloads) => {
    writeGroup(stream, payloads);
  };
}

/** ioredis: one RPUSH of the whole group to a list. */
export function redisRawWriter(client: Redis, keyPrefix: string): RawWriter {
  return async (stream, payloads) => {
    await client.rpush(
      `${keyPrefix}raw:${stream}`,
      ...payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)),
    );
  };
}

/** mongodb: one `insertMany` per group with the store's default write concern (majority, journaled). */
export function mongoRawWriter(db: Db): RawWriter {
  const events = db.collection("raw_events");
  return async (stream, payloads) => {
    const now = Date.now();
    await events.insertMany(
      payloads.map((payload) => ({ stream, time: now, payload: Buffer.from(payload) })),
      { writeConcern: { w: "majority", j: true } },
    );
  };
}

/**
 * pg: one multi-row `INSERT … VALUES (…), (…)` per group (one statement, committed on its own),
 * into a plain table in `schema`.
 */
export async function postgresRawWriter(pool: Pool, schema: string): Promise<RawWriter> {
  const table = `${schema}.raw_events`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${table} (stream text NOT NULL, seq bigint NOT NULL, time double precision NOT NULL, payload bytea NOT NULL, PRIMARY KEY (stream, seq))`,
  );
  const heads = new Map<string, number>();
  return async (stream, payloads) => {
    let seq = heads.get(stream) ?? 0;
    const params: unknown[] = [stream, Date.now()];
    const rows = payloads.map((payload) => {
      params.push(++seq, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
      return `($1, $${params.length - 1}, $2, $${params.length})`;
    });
    await pool.query(
      `INSERT INTO ${table} (stream, seq, time, payload) VALUES ${rows.join(", ")}`,
      params,
    );
    heads.set(stream, seq);
  };
}
