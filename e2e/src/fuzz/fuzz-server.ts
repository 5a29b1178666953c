/**
 * The server under fuzz, in its own process: Socket.IO + Assured on a free loopback port, with
 * an `identify` hook (handshake `auth.token` → principal), an `authorize` hook with the known
 * rule of `rules.ts`, handlers whose results are tied to the principal, and a background
 * publisher so every kind of stream has data. It measures itself (RSS, heap, event-loop delay
 * with `monitorEventLoopDelay`) and audits its rooms, and reports over the IPC channel. An
 * out-of-memory death or an uncaught exception ends the process: the parent sees a crash.
 *
 * Run by `FuzzServerProcess` as
 * `node --conditions=@assured/source --import tsx e2e/src/fuzz/fuzz-server.ts`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { AssuredError, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { ROOM_PREFIX } from "@assured/core/protocol";
import type { DedupStore, EventStore } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { Server, type Socket } from "socket.io";
import {
  FUZZ_SERVER_ENV,
  type FuzzServerConfig,
  type FuzzServerMessage,
  type FuzzServerRequest,
  mayRead,
  OWNER_FIELD,
  PUBLISHED_STREAMS,
  principalOfAuth,
  type RoomLeak,
  type ServerStats,
  STREAM_FIELD,
  type StreamHead,
  secretOf,
} from "./rules.js";

const config = JSON.parse(process.env[FUZZ_SERVER_ENV] ?? "{}") as FuzzServerConfig;

function send(message: FuzzServerMessage): void {
  process.send?.(message);
}

// Report what kills the process before it dies (the exception still ends it).
process.on("uncaughtExceptionMonitor", (error) => {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`fuzz server: uncaught ${text}\n`);
  send({ type: "fatal", error: text.slice(0, 2_000) });
});

let eventStore: EventStore;
let dedupStore: DedupStore;
if (config.store === "sqlite") {
  const stores = createSqliteStores({ path: config.databasePath! });
  eventStore = stores.eventStore;
  dedupStore = stores.dedupStore;
} else {
  eventStore = new MemoryEventStore();
  dedupStore = new MemoryDedupStore();
}

const principalOf = (socket: Socket): string | undefined => principalOfAuth(socket.handshake.auth);

const httpServer = createServer();
const io = new Server(httpServer, {
  ...(config.connectionStateRecovery
    ? { connectionStateRecovery: { maxDisconnectionDuration: 10_000, skipMiddlewares: true } }
    : {}),
});
const assured = createAssuredServer(io, {
  store: eventStore,
  dedupStore,
  identify: (socket) => {
    if (config.selfTest === "leak") return "everybody";
    const principal = principalOf(socket);
    if (principal === undefined) throw new Error("no valid auth.token");
    return principal;
  },
  authorize: (socket, stream) => config.selfTest === "leak" || mayRead(principalOf(socket), stream),
  limits: { maxPayloadBytes: config.maxPayloadBytes },
});

assured.on("echo", (data) => data);
assured.on("whoami", (_data, { principal, id }) => ({
  [OWNER_FIELD]: principal,
  id,
  secret: secretOf(principal),
}));
assured.on("note", async (_data, { principal, id }) => {
  const stream = `secret:${principal}`;
  const { offset } = await assured.publish(
    stream,
    "e",
    { [STREAM_FIELD]: stream, [OWNER_FIELD]: principal, note: id },
    { id },
  );
  return { [OWNER_FIELD]: principal, offset };
});
assured.on("fail", (_data, { principal }) => {
  throw new Error(`${OWNER_FIELD}=${principal} ${secretOf(principal)}`);
});
assured.on("slow", async (_data, { principal }) => {
  await sleep(Math.floor(Math.random() * 20));
  return { [OWNER_FIELD]: principal };
});
if (config.selfTest === "oom") {
  assured.on("selftest:oom", () => {
    const hoard: unknown[] = [];
    for (;;) hoard.push(new Array(1_000_000).fill(hoard.length));
  });
}

// ——— background publisher ———

const published = new Map<string, number>();
let publishing = true;
let round: Promise<void> = Promise.resolve();

async function publishRound(): Promise<void> {
  await Promise.all(
    PUBLISHED_STREAMS.map(async (stream) => {
      const n = (published.get(stream) ?? 0) + 1;
      const owner = stream.startsWith("secret:") ? stream.slice("secret:".length) : undefined;
      try {
        await assured.publish(stream, "e", {
          [STREAM_FIELD]: stream,
          ...(owner === undefined ? {} : { [OWNER_FIELD]: owner }),
          n,
        });
        published.set(stream, n);
      } catch (error) {
        const code = error instanceof AssuredError ? error.code : "INTERNAL";
        send({ type: "publish-error", stream, code, message: String(error) });
      }
    }),
  );
}

function schedulePublishing(): void {
  if (!publishing) return;
  setTimeout(() => {
    if (!publishing) return;
    round = publishRound().finally(schedulePublishing);
  }, config.publishIntervalMs);
}

async function heads(): Promise<Record<string, StreamHead>> {
  const out: Record<string, StreamHead> = {};
  for (const stream of PUBLISHED_STREAMS) {
    const { epoch, head } = await eventStore.head(stream);
    out[stream] = { epoch, head };
  }
  return out;
}

// ——— self-measurement and room audit ———

const lag = monitorEventLoopDelay({ resolution: 10 });

function auditRooms(): { roomLeaks: RoomLeak[]; ghostMembers: number; rooms: number } {
  const nsp = io.of("/");
  const roomLeaks: RoomLeak[] = [];
  for (const socket of nsp.sockets.values()) {
    const principal = principalOf(socket);
    for (const room of socket.rooms) {
      if (!room.startsWith(ROOM_PREFIX)) continue;
      const stream = room.slice(ROOM_PREFIX.length);
      if (!mayRead(principal, stream)) {
        roomLeaks.push({ socketId: socket.id, principal: principal ?? null, stream });
      }
    }
  }
  // Room members the adapter still holds for sockets that are gone: memory that is never freed.
  let ghostMembers = 0;
  const rooms = nsp.adapter.rooms;
  for (const [room, members] of rooms) {
    if (!room.startsWith(ROOM_PREFIX)) continue;
    for (const id of members) if (!nsp.sockets.has(id)) ghostMembers++;
  }
  return { roomLeaks, ghostMembers, rooms: rooms.size };
}

function measure(): ServerStats {
  const memory = process.memoryUsage();
  const audit = auditRooms();
  const stats: ServerStats = {
    at: Date.now(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    lagMaxMs: lag.max / 1e6,
    lagP99Ms: lag.percentile(99) / 1e6,
    sockets: io.of("/").sockets.size,
    ...audit,
  };
  lag.reset();
  return stats;
}

process.on("message", (raw: FuzzServerRequest) => {
  void (async () => {
    switch (raw.type) {
      case "heads":
        send({ type: "heads", requestId: raw.requestId, heads: await heads() });
        return;
      case "stop-publishing":
        publishing = false;
        await round;
        send({ type: "heads", requestId: raw.requestId, heads: await heads() });
        return;
      case "stats": {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (raw.gc && gc !== undefined) {
          gc();
          await sleep(50);
          gc();
        }
        send({ type: "stats", requestId: raw.requestId, stats: measure() });
        return;
      }
    }
  })();
});

httpServer.listen(0, "127.0.0.1", async () => {
  const { port } = httpServer.address() as AddressInfo;
  await publishRound();
  schedulePublishing();
  lag.enable();
  setInterval(() => send({ type: "stats", stats: measure() }), config.statsIntervalMs).unref();
  send({ type: "ready", port });
});

// The parent ends the process with SIGTERM; the IPC channel closing means the parent is gone.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
