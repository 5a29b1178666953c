import { createServer } from "node:http";
import { createAssuredServer } from "@assured/server";
import { RedisDedupStore, RedisEventStore } from "@assured/store-redis";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

// One node of several: run it twice with two PORTs and the same REDIS_URL.
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const port = Number(process.env.PORT ?? 3001);

// Live fan-out: the adapter relays each room broadcast to the other nodes over pub/sub.
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });

// Events and message outcomes live in Redis, shared by every node: any node replays a stream
// and answers a resent message, whichever node took it first.
const eventStore = new RedisEventStore({ redis: redisUrl });
const dedupStore = new RedisDedupStore({ redis: redisUrl });
const assured = createAssuredServer(io, { store: eventStore, dedupStore });

// Runs once per message id on whichever node receives it; the event reaches every node's clients.
assured.on("chat:send", async ({ room, text }: { room: string; text: string }, { principal }) => {
  const event = { from: principal, text, node: port };
  const { offset } = await assured.publish(`room:${room}`, "chat:message", event);
  return { offset };
});

httpServer.listen(port, () => console.log(`Assured node on http://localhost:${port}`));
