import { createAssuredClient } from "@assured/client";
import { io } from "socket.io-client";

const socket = io(process.env.SERVER_URL ?? "http://localhost:3000", { autoConnect: false });
// In Node, positions and the outbox live in memory; pass `storage` to keep them across restarts.
const client = createAssuredClient(socket);

// Each event once, in offset order; the position advances after the handler resolves.
client.on("chat:message", ({ from, text }: { from: string; text: string }, { stream, offset }) => {
  console.log(`${stream}#${offset} ${from}: ${text}`);
});
// Told, never silent, when the missed events cannot all be replayed.
client.onRecovery(({ stream, recovered, reason }) => {
  if (!recovered) console.log(`${stream}: could not recover (${reason}); load it again`);
});

client.subscribe("room:lobby", { from: "earliest" });
await client.connect();
// Stored before sending, resent until answered, handled once.
const { offset } = await client.emit<{ offset: number }>("chat:send", {
  room: "lobby",
  text: "hello",
});
console.log(`stored at offset ${offset}`);
