/**
 * A Socket.IO + Assured server in its own process, for memory tests: the parent measures this
 * process's RSS and heap while hostile clients drive it past its byte limits. It reports over
 * IPC (see `MemoryCommand`). Run with
 * `node --expose-gc --conditions=@assured/source --import tsx e2e/src/memory/memory-server.ts`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryDedupStore } from "@assured/core";
import type {
  AppendEntry,
  AppendResult,
  EventStore,
  ReadOptions,
  ReadResult,
  StreamHead,
} from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import { Server } from "socket.io";
import {
  MEMORY_CONFIG_ENV,
  type MemoryCommand,
  type MemoryServerConfig,
  type MemoryStats,
  type SentCounters,
} from "./memory-protocol.js";

const config = JSON.parse(process.env[MEMORY_CONFIG_ENV] ?? "{}") as MemoryServerConfig;

/**
 * An event store whose events share one payload buffer per stream and keep nothing else: reads
 * build records on the fly, appends only move the head. What the server holds is its own.
 */
class SyntheticStore implements EventStore {
  readonly capabilities = {
    sharedAcrossInstances: false,
    persistent: false,
    retentionByAge: false,
    retentionByLength: false,
  };
  readonly #streams = new Map<string, { head: number; payload: Uint8Array }>();
  readonly #time = Date.now();

  constructor(streams: MemoryServerConfig["streams"]) {
    for (const [name, { count, bytes }] of Object.entries(streams)) {
      this.#streams.set(name, { head: count, payload: new Uint8Array(bytes).fill(7) });
    }
  }

  #stream(name: string) {
    let stream = this.#streams.get(name);
    if (stream === undefined) {
      stream = { head: 0, payload: new Uint8Array(0) };
      this.#streams.set(name, stream);
    }
    return stream;
  }

  async append(name: string, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const stream = this.#stream(name);
    return entries.map((entry) => {
      stream.head++;
      return {
        offset: stream.head,
        id: entry.id ?? `e${stream.head}`,
        duplicate: false,
        epoch: "e1",
      };
    });
  }

  async read(name: string, { after, limit }: ReadOptions): Promise<ReadResult> {
    const stream = this.#stream(name);
    const records = [];
    for (let offset = after + 1; offset <= Math.min(stream.head, after + limit); offset++) {
      records.push({
        stream: name,
        offset,
        id: `e${offset}`,
        name: "e",
        payload: stream.payload,
        time: this.#time,
      });
    }
    return { epoch: "e1", head: stream.head, earliest: 1, records };
  }

  async head(name: string): Promise<StreamHead> {
    return { epoch: "e1", head: this.#stream(name).head, earliest: 1 };
  }

  async reset(name: string): Promise<StreamHead> {
    return this.head(name);
  }

  async close(): Promise<void> {}
}

const httpServer = createServer();
const io = new Server(httpServer);
const assured = createAssuredServer(io, {
  store: new SyntheticStore(config.streams),
  dedupStore: new MemoryDedupStore(),
  limits: config.limits,
});

let release!: () => void;
let released = new Promise<void>((resolve) => (release = resolve));
let holding = 0;
assured.on("hold", async () => {
  holding++;
  try {
    await released;
  } finally {
    holding--;
  }
  return null;
});
assured.on("echo", () => null);

// What the server queues for each connection, by the `tag` of its handshake.
const sent: Record<string, SentCounters> = {};
const disconnects: MemoryStats["disconnects"] = [];
const sizeOf = (data: unknown) =>
  typeof data === "string" ? data.length : ArrayBuffer.isView(data) ? data.byteLength : 0;
io.on("connection", (socket) => {
  const tag = String((socket.handshake.auth as { tag?: unknown }).tag ?? "untagged");
  sent[tag] ??= { bytes: 0, recordBytes: 0, frames: {} };
  const counters = sent[tag];
  let attachment = false;
  const conn = socket.conn as unknown as {
    on(event: "packetCreate", listener: (packet: { data?: unknown }) => void): void;
  };
  conn.on("packetCreate", ({ data }) => {
    counters.bytes += sizeOf(data);
    if (typeof data !== "string") {
      if (attachment) counters.recordBytes += sizeOf(data);
      attachment = false;
      return;
    }
    // Socket.IO packets: 2/5 event (5 = with attachments), 3/6 ack (6 = with attachments).
    const name = /^[25][^[]*\["([^"]+)"/.exec(data)?.[1] ?? (/^[36]/.test(data) ? "ack" : "other");
    counters.frames[name] = (counters.frames[name] ?? 0) + 1;
    attachment = data.startsWith("5") || data.startsWith("6");
  });
  socket.on("disconnect", (reason) => disconnects.push({ tag, reason, bytes: counters.bytes }));
});

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 10);
sampler.unref();

function stats(): MemoryStats {
  const memory = process.memoryUsage();
  peakRss = Math.max(peakRss, memory.rss);
  return {
    rss: memory.rss,
    peakRss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    sent,
    disconnects,
    sockets: io.of("/").sockets.size,
    holding,
  };
}

async function publish(stream: string, count: number, bytes: number): Promise<number> {
  const data = new Uint8Array(bytes);
  let published = 0;
  // A few at a time: group commit puts each group in one batch per subscriber.
  for (let i = 0; i < count; i += 4) {
    const group = Math.min(4, count - i);
    await Promise.all(Array.from({ length: group }, () => assured.publish(stream, "e", data)));
    published += group;
  }
  return published;
}

async function run(command: MemoryCommand): Promise<unknown> {
  switch (command.type) {
    case "stats":
      if (command.gc) {
        // Twice: the first pass may only find what the second can free.
        (globalThis as { gc?: () => void }).gc?.();
        await new Promise((resolve) => setImmediate(resolve));
        (globalThis as { gc?: () => void }).gc?.();
      }
      return stats();
    case "resetPeak":
      peakRss = process.memoryUsage.rss();
      return peakRss;
    case "publish":
      return publish(command.stream, command.count, command.bytes);
    case "release":
      release();
      released = new Promise<void>((resolve) => (release = resolve));
      return holding;
  }
}

process.on("message", (command: MemoryCommand) => {
  run(command).then(
    (result) => process.send?.({ id: command.id, result }),
    (error: unknown) => process.send?.({ id: command.id, error: String(error) }),
  );
});
process.on("disconnect", () => process.exit(0));

httpServer.listen(0, "127.0.0.1", () => {
  process.send?.({ ready: (httpServer.address() as AddressInfo).port });
});
