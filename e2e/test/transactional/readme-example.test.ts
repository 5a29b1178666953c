import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import Database from "better-sqlite3";
import { Server } from "socket.io";
import { expect, it } from "vitest";
import { RecordingClient } from "../../src/recording-client.js";

it("the store-sqlite README's transactional publish example runs as written and its event is delivered", async () => {
  const dir = mkdtempSync(join(tmpdir(), "assured-e2e-tx-readme-"));
  const httpServer = createServer();
  const io = new Server(httpServer);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  const subscriber = new RecordingClient(url, { events: ["order:placed"] });
  try {
    // --- as in packages/store-sqlite/README.md ---
    const path = join(dir, "app.sqlite");
    const { eventStore, dedupStore } = createSqliteStores({ path });
    const assured = createAssuredServer(io, { store: eventStore, dedupStore });

    // The application's own connection to the same file, with its own tables.
    const db = new Database(path, { timeout: 5_000 });
    db.exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)");

    subscriber.client.subscribe("orders");
    await subscriber.client.connect();
    await subscriber.changes.until(() => subscriber.outcomes.length > 0, { what: "subscribed" });

    const placeOrder = db.transaction((order: { id: string; total: number }) => {
      db.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(order.id, order.total);
      return eventStore.appendInTransaction(db, "orders", [
        { name: "order:placed", data: order, id: `placed:${order.id}` },
      ]);
    });
    const [placed] = placeOrder.immediate({ id: "o-1", total: 42 }); // placed.offset, placed.epoch
    // ---
    expect(placed).toMatchObject({ offset: 1, id: "placed:o-1", duplicate: false });
    await subscriber.reached("orders", 1);
    expect(subscriber.data("orders")).toEqual([{ id: "o-1", total: 42 }]);
    await assured.close();
    db.close();
    await eventStore.close();
    await dedupStore.close();
  } finally {
    await subscriber.close();
    await new Promise<void>((resolve) => io.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});
