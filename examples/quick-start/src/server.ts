import { createServer } from "node:http";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { Server } from "socket.io";

// Events and message outcomes live in one SQLite file (created if missing).
const { eventStore, dedupStore } = createSqliteStores({ path: "assured.sqlite" });
const httpServer = createServer();
const io = new Server(httpServer);
const assured = createAssuredServer(io, { store: eventStore, dedupStore });

// Runs once per message id, however often the client resends it; its result is stored.
assured.on("chat:send", async ({ room, text }: { room: string; text: string }, { principal }) => {
  const event = { from: principal, text };
  const { offset } = await assured.publish(`room:${room}`, "chat:message", event);
  return { offset };
});

const port = Number(process.env.PORT ?? 3000);
httpServer.listen(port, () => console.log(`Assured on http://localhost:${port}`));
