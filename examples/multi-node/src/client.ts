import { createAssuredClient } from "@assured/client";
import { io } from "socket.io-client";

// Connects to one node; the others' events reach it through the adapter, live.
const socket = io(process.env.SERVER_URL ?? "http://localhost:3001", { autoConnect: false });
const client = createAssuredClient(socket);

// Each event once, in offset order, whichever node published it.
type Message = { from: string; text: string; node: number };
client.on("chat:message", ({ from, text, node }: Message, { stream, offset }) => {
  console.log(`${stream}#${offset} ${from} via :${node}: ${text}`);
});
client.onRecovery(({ stream, recovered, reason }) => {
  if (!recovered) console.log(`${stream}: could not recover (${reason}); load it again`);
});

client.subscribe("room:lobby", { from: "earliest" });
await client.connect();
// Handled once by the node this client is connected to; stays connected to print what follows.
const text = process.argv[2] ?? "hello";
const { offset } = await client.emit<{ offset: number }>("chat:send", { room: "lobby", text });
console.log(`stored at offset ${offset}`);
