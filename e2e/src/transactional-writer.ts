/**
 * A separate Node process doing transactional publishes on a SQLite file, with no Assured
 * server in it: its own better-sqlite3 connection, one `orders` row and `appendInTransaction`
 * per transaction. The config is JSON in `TRANSACTIONAL_WRITER` ({ path, stream, count, tag,
 * end: "exit" | "crash" }). Prints one JSON line per commit ({ type: "committed", offset, n }),
 * then { type: "done" }; with `crash` it SIGKILLs itself right after the last commit.
 */
import { SqliteEventStore } from "@assured/store-sqlite";
import Database from "better-sqlite3";

/** The environment variable carrying the writer's config. */
export const TRANSACTIONAL_WRITER_ENV = "TRANSACTIONAL_WRITER";

/** The writer's config. */
export interface TransactionalWriterConfig {
  path: string;
  stream: string;
  count: number;
  tag: string;
  /** After the last commit: close and exit, or SIGKILL itself. */
  end: "exit" | "crash";
}

/** One line the writer prints. */
export type TransactionalWriterLine =
  | { type: "committed"; offset: number; n: number }
  | { type: "done" };

async function main(config: TransactionalWriterConfig): Promise<void> {
  const store = new SqliteEventStore({ path: config.path });
  const db = new Database(config.path, { timeout: 10_000 });
  db.exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  const insert = db.prepare("INSERT INTO orders (id, n) VALUES (?, ?)");
  const place = db.transaction((n: number) => {
    const id = `${config.tag}-${n}`;
    insert.run(id, n);
    return store.appendInTransaction(db, config.stream, [
      { id, name: "e", data: { tag: config.tag, n } },
    ]);
  });
  const print = (line: TransactionalWriterLine) =>
    process.stdout.write(`${JSON.stringify(line)}\n`);
  for (let n = 1; n <= config.count; n++) {
    const [result] = place.immediate(n);
    print({ type: "committed", offset: result!.offset, n });
    // Let the other writers in between now and then.
    if (n % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (config.end === "crash") process.kill(process.pid, "SIGKILL");
  db.close();
  await store.close();
  print({ type: "done" });
}

const raw = process.env[TRANSACTIONAL_WRITER_ENV];
if (raw !== undefined) await main(JSON.parse(raw) as TransactionalWriterConfig);
