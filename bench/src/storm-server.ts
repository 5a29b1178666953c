// The reconnect storm's server, run in a child process (see storm.ts): a Socket.IO server with
// connection state recovery, or with Assured on one of the stores, driven by the parent
// over IPC. Its RSS and event-loop lag are measured here, apart from the clients.
import { newId } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import { benchEvent } from "./bench-event.js";
import { serveParent } from "./child-rpc.js";
import { type LoopbackServer, startServer } from "./loopback.js";
import { startGauges } from "./server-gauges.js";
import { closeStores, openStores, type StoreAvailability, type StoreKind } from "./stores.js";

/** Which server the storm measures. */
export type StormServerSpec =
  | { system: "socketio-csr" }
  | { system: "assured"; store: Exclude<StoreKind, "mongodb"> };

const ROOM = "bench";
const EVENT = "event";
/** Events published per awaited chunk (below the publisher's `maxPendingPublishes`). */
const PUBLISH_CHUNK = 1_000;

let server: LoopbackServer | undefined;
let stores: StoreAvailability[] = [];
let publish: (seq: number) => Promise<unknown> | undefined = () => undefined;
let closeAssured: () => Promise<void> = async () => {};
let disconnects = 0;
let onDisconnect = () => {};
let gauges: ReturnType<typeof startGauges> | undefined;

const collect = () => (globalThis as { gc?: () => void }).gc?.();

serveParent({
  async start(arg) {
    const spec = arg as StormServerSpec;
    let stream: string | null = null;
    if (spec.system === "socketio-csr") {
      server = await startServer({
        connectionStateRecovery: { maxDisconnectionDuration: 10 * 60_000 },
      });
      const io = server.io;
      io.on("connection", (socket) => socket.join(ROOM));
      publish = (seq) => void io.to(ROOM).emit(EVENT, benchEvent(seq));
    } else {
      stores = await openStores(`storm${Date.now().toString(36)}`, [spec.store]);
      const opened = stores[0];
      if (!opened?.available) throw new Error(`${spec.store} store unavailable: ${opened?.reason}`);
      server = await startServer();
      const assured = createAssuredServer(server.io, {
        store: opened.stores.eventStore,
        dedupStore: opened.stores.dedupStore,
      });
      const name = `bench-storm-${newId()}`;
      stream = name;
      publish = (seq) => assured.publish(name, EVENT, benchEvent(seq));
      closeAssured = async () => {
        await assured.close();
      };
    }
    server.io.on("connection", (socket) =>
      socket.on("disconnect", () => {
        disconnects++;
        onDisconnect();
      }),
    );
    return { url: server.url, stream };
  },
  async publish(arg) {
    const { from, count } = arg as { from: number; count: number };
    for (let seq = from; seq < from + count; seq += PUBLISH_CHUNK) {
      const chunk: (Promise<unknown> | undefined)[] = [];
      for (let i = seq; i < Math.min(from + count, seq + PUBLISH_CHUNK); i++)
        chunk.push(publish(i));
      await Promise.all(chunk);
    }
  },
  async awaitDisconnects(arg) {
    const count = arg as number;
    await new Promise<void>((resolve) => {
      onDisconnect = () => {
        if (disconnects >= count) resolve();
      };
      onDisconnect();
    });
    onDisconnect = () => {};
  },
  gaugesStart() {
    collect();
    gauges = startGauges();
  },
  gaugesStop() {
    const reading = gauges?.stop();
    gauges = undefined;
    return reading;
  },
  async close() {
    await closeAssured();
    await server?.close();
    await closeStores(stores);
  },
});
