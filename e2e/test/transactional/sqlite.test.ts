import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteDedupStore, SqliteEventStore } from "@assured/store-sqlite";
import { freePort } from "@assured/test-services";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { Changes } from "../../src/changes.js";
import { ChildServerProcess } from "../../src/child-server-process.js";
import { RecordingClient } from "../../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../../src/socket-server.js";
import {
  TRANSACTIONAL_WRITER_ENV,
  type TransactionalWriterConfig,
  type TransactionalWriterLine,
} from "../../src/transactional-writer.js";
import { readJsonLines, spawnTsxChild } from "../../src/tsx-child.js";

/**
 * Transactional publish on SQLite, end to end: an application commits its own row and its
 * events in one transaction (`appendInTransaction`), and real Assured servers watching the file
 * (`watchCommits`) emit them to real clients over real sockets; rolled-back ones never exist.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "assured-e2e-tx-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "app.sqlite");
}

interface Node {
  server: RunningSocketServer;
  store: SqliteEventStore;
  close(): Promise<void>;
}

/** An Assured server on its own stores on the file (as another process would have). */
async function startNode(path: string): Promise<Node> {
  const store = new SqliteEventStore({ path });
  const dedupStore = new SqliteDedupStore({ path });
  const server = await startSocketServer({ store, dedupStore });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    await store.close();
    await dedupStore.close();
  };
  cleanups.push(close);
  return { server, store, close };
}

function client(url: string, changes: Changes): RecordingClient {
  const c = new RecordingClient(url, { changes });
  cleanups.push(() => c.close());
  return c;
}

/** The application's own connection to the file, with its own table. */
function appDatabase(path: string): Database.Database {
  const db = new Database(path, { timeout: 10_000 });
  db.exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  cleanups.push(() => {
    db.close();
  });
  return db;
}

/** Starts a transactional writer process; its lines go to `lines`, each notifying `changes`. */
function startWriter(config: TransactionalWriterConfig, changes: Changes) {
  const child = spawnTsxChild({
    entry: "transactional-writer.ts",
    env: { [TRANSACTIONAL_WRITER_ENV]: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: TransactionalWriterLine[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readJsonLines<TransactionalWriterLine>(child.stdout!, (line) => {
    lines.push(line);
    changes.notify();
  });
  child.on("exit", (code, signal) => {
    exit = { code, signal };
    changes.notify();
  });
  cleanups.push(() => {
    if (exit === undefined) child.kill("SIGKILL");
  });
  return {
    lines,
    committed: () => lines.filter((l) => l.type === "committed"),
    exited: () => changes.until(() => exit, { timeoutMs: 30_000, what: "the writer to exit" }),
  };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("transactional publish (SQLite)", () => {
  it("a committed transaction's events reach the subscriber within 200 ms, in offset order with publish()'s", async () => {
    const path = tempFile();
    const node = await startNode(path);
    const changes = new Changes();
    const c = client(node.server.url, changes);
    c.client.subscribe("orders", { from: "earliest" });
    await c.client.connect();
    await changes.until(() => c.outcomes.length > 0, { what: "subscribed" });

    const db = appDatabase(path);
    const place = db.transaction((n: number) => {
      db.prepare("INSERT INTO orders (id, n) VALUES (?, ?)").run(`o${n}`, n);
      return node.store.appendInTransaction(db, "orders", [
        { name: "e", data: { order: n } },
        { name: "e", data: { paid: n } },
      ]);
    });
    await node.server.assured.publish("orders", "e", { publish: 1 });
    const started = performance.now();
    const [first] = place.immediate(1);
    expect(first!.offset).toBe(2);
    await c.reached("orders", 3, 2_000);
    const latency = performance.now() - started;
    expect(latency).toBeLessThan(200);

    // Interleaved: publish, transaction, publish, transaction.
    await node.server.assured.publish("orders", "e", { publish: 2 });
    place.immediate(2);
    await node.server.assured.publish("orders", "e", { publish: 3 });
    place.immediate(3);
    await c.reached("orders", 9);
    expect(c.offsets("orders")).toEqual(range(1, 9));
    expect(c.data("orders")).toEqual([
      { publish: 1 },
      { order: 1 },
      { paid: 1 },
      { publish: 2 },
      { order: 2 },
      { paid: 2 },
      { publish: 3 },
      { order: 3 },
      { paid: 3 },
    ]);
    expect(node.server.assured.stats().committedEvents).toBe(6);
    console.log(`transactional publish: commit to delivery in ${latency.toFixed(1)} ms`);
  });

  it("a rolled-back transaction stores and delivers nothing: the next commit arrives with the next offset, nothing before it", async () => {
    const path = tempFile();
    const node = await startNode(path);
    const changes = new Changes();
    const c = client(node.server.url, changes);
    c.client.subscribe("orders", { from: "earliest" });
    await c.client.connect();
    await changes.until(() => c.outcomes.length > 0, { what: "subscribed" });
    await node.server.assured.publish("orders", "e", "before");
    await c.reached("orders", 1);
    const head = await node.store.head("orders");

    const db = appDatabase(path);
    expect(() =>
      db.transaction(() => {
        db.prepare("INSERT INTO orders (id, n) VALUES (?, ?)").run("lost", 0);
        node.store.appendInTransaction(db, "orders", [{ name: "e", data: "lost" }]);
        throw new Error("payment declined");
      })(),
    ).toThrow("payment declined");
    expect(db.prepare("SELECT count(*) FROM orders").pluck().get()).toBe(0);
    expect(await node.store.head("orders")).toEqual(head);

    db.transaction(() => {
      db.prepare("INSERT INTO orders (id, n) VALUES (?, ?)").run("kept", 1);
      node.store.appendInTransaction(db, "orders", [{ name: "e", data: "kept" }]);
    })();
    await c.reached("orders", 2);
    expect(c.offsets("orders")).toEqual([1, 2]);
    expect(c.data("orders")).toEqual(["before", "kept"]);
  });

  it("a writer process SIGKILLed right after its commits: a server on the file emits them live, and a client of a server that was down gets them on reconnect", {
    timeout: 60_000,
  }, async () => {
    const path = tempFile();
    const changes = new Changes();
    const live = await startNode(path);
    const config = {
      port: await freePort(),
      databasePath: path,
      leaseMs: 1_000,
      hangAfterAppend: false,
    };
    const down = await ChildServerProcess.start(config, changes);
    cleanups.push(() => down.kill());
    const watching = client(live.server.url, changes);
    const away = client(`http://127.0.0.1:${config.port}`, changes);
    for (const c of [watching, away]) {
      c.client.subscribe("orders", { from: "earliest" });
      await c.client.connect();
    }
    await changes.until(() => watching.outcomes.length > 0 && away.outcomes.length > 0, {
      what: "both subscribed",
    });
    await down.kill();
    await changes.until(() => !away.socket.connected, { what: "the away client to disconnect" });

    const writer = startWriter(
      { path, stream: "orders", count: 12, tag: "w", end: "crash" },
      changes,
    );
    const exit = await writer.exited();
    expect(exit.signal).toBe("SIGKILL");
    expect(writer.committed().map((l) => l.type === "committed" && l.offset)).toEqual(range(1, 12));
    await watching.reached("orders", 12);
    expect(watching.offsets("orders")).toEqual(range(1, 12));
    expect(live.server.assured.stats().committedEvents).toBe(12);

    const restarted = await ChildServerProcess.start(config, changes);
    cleanups.push(() => restarted.kill());
    await away.reached("orders", 12, 20_000);
    expect(away.offsets("orders")).toEqual(range(1, 12));
    expect(away.data("orders")).toEqual(range(1, 12).map((n) => ({ tag: "w", n })));
    expect(away.outcomes.at(-1)?.recovered).toBe(true);
  });

  it("several writer processes and the server's process publish concurrently: gapless offsets, each event delivered once, in order", {
    timeout: 90_000,
  }, async () => {
    const path = tempFile();
    const changes = new Changes();
    const node = await startNode(path);
    const c = client(node.server.url, changes);
    c.client.subscribe("orders", { from: "head" });
    await c.client.connect();
    await changes.until(() => c.outcomes.length > 0, { what: "subscribed" });

    const perWriter = 40;
    const writers = ["a", "b", "c"].map((tag) =>
      startWriter({ path, stream: "orders", count: perWriter, tag, end: "exit" }, changes),
    );
    const db = appDatabase(path);
    for (let n = 1; n <= perWriter; n++) {
      db.transaction(() => {
        db.prepare("INSERT INTO orders (id, n) VALUES (?, ?)").run(`here-${n}`, n);
        node.store.appendInTransaction(db, "orders", [{ name: "e", data: { tag: "here", n } }]);
      }).immediate();
      if (n % 2 === 0) await node.server.assured.publish("orders", "e", { tag: "publish", n });
      await new Promise((resolve) => setImmediate(resolve));
    }
    const exits = await Promise.all(writers.map((w) => w.exited()));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const total = 4 * perWriter + perWriter / 2;
    await c.reached("orders", total, 30_000);
    expect(c.offsets("orders")).toEqual(range(1, total));
    const deliveries = c.deliveries.get("orders")!;
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(total);
    // Each writer's events in its commit order.
    for (const tag of ["a", "b", "c", "here", "publish"]) {
      const ns = c
        .data("orders")
        .filter((d) => (d as { tag: string }).tag === tag)
        .map((d) => (d as { n: number }).n);
      expect(ns, tag).toEqual([...ns].sort((x, y) => x - y));
    }
    // Delivered live, by the feed (not by gap repair alone).
    expect(node.server.assured.stats().committedEvents).toBe(4 * perWriter);
  });
});
