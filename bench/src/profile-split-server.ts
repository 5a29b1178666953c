// The server half of `profile-split.ts`, in a process of its own: a loopback Socket.IO server
// answering "msg" (plain `emitWithAck`, or Assured with the memory stores). The parent tells it
// "start" and "stop" (it answers with its CPU time in µs between the two) and "exit".
import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { createAssuredServer } from "@assured/server";
import { startServer } from "./loopback.js";

const server = await startServer();
if (process.argv[2] === "plain") {
  server.io.on("connection", (socket) => {
    socket.on("msg", (_data: unknown, ack: (reply: unknown) => void) => ack({ ok: true }));
  });
} else {
  const assured = createAssuredServer(server.io, {
    store: new MemoryEventStore(),
    dedupStore: new MemoryDedupStore(),
    // As the client-to-server scenario: the flood protections are not what is measured.
    limits: {
      tokensPerSecond: 1_000_000,
      burstTokens: 1_000_000,
      maxDedupEntriesPerPrincipal: 10_000_000,
    },
  });
  assured.on("msg", () => ({ ok: true }));
}
let started = process.cpuUsage();
process.on("message", (command: string) => {
  if (command === "start") {
    started = process.cpuUsage();
    process.send?.("started");
  } else if (command === "stop") {
    const { user, system } = process.cpuUsage(started);
    process.send?.(String(user + system));
  } else if (command === "exit") {
    process.exit(0);
  }
});
process.send?.(server.url);
