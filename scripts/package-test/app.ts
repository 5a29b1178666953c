// The packaging test's consumer app, built from the packed tarballs: a Socket.IO server with
// Assured on SQLite and a client in one process. It prints "round trip ok" and exits 0 when a
// message was handled once and the event it published reached the subscribed client.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAssuredClient } from "@assured/client";
import { AssuredError } from "@assured/core";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { Server } from "socket.io";
import { io } from "socket.io-client";

interface Note {
  text: string;
}

const directory = mkdtempSync(join(tmpdir(), "assured-package-app-"));
const stores = createSqliteStores({ path: join(directory, "assured.sqlite") });
const httpServer = createServer();
const ioServer = new Server(httpServer);
const assured = createAssuredServer(ioServer, {
  store: stores.eventStore,
  dedupStore: stores.dedupStore,
});

let handled = 0;
assured.on("note:add", async (note: Note) => {
  handled += 1;
  const { offset } = await assured.publish("notes", "note:added", note);
  return { offset };
});

await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const { port } = httpServer.address() as AddressInfo;
const client = createAssuredClient(io(`http://127.0.0.1:${port}`, { autoConnect: false }));

const delivered = new Promise<{ note: Note; offset: number }>((resolve) => {
  client.on("note:added", (note: Note, { offset }) => resolve({ note, offset }));
});
client.subscribe("notes", { from: "earliest" });
await client.connect();
const reply = await client.emit<{ offset: number }>("note:add", { text: "hello" });
const event = await delivered;

await client.close();
await assured.close();
await new Promise<void>((resolve) => ioServer.close(() => resolve()));
await stores.close();
rmSync(directory, { recursive: true, force: true });

if (handled !== 1 || reply.offset !== 1 || event.offset !== 1 || event.note.text !== "hello") {
  throw new AssuredError(
    "INTERNAL",
    `round trip went wrong: handled ${handled} times, reply ${JSON.stringify(reply)}, event ${JSON.stringify(event)}`,
  );
}
console.log("round trip ok");
