// Reconnect storm: many clients that missed the same events reconnect at once. The server runs
// in a child process (storm-server.ts) so that its RSS and event-loop lag are its own; the
// clients run in the bench process. Socket.IO's connection state recovery against Assured.
import { createAssuredClient } from "@assured/client";
import type { Socket } from "socket.io-client";
import type { BenchEvent } from "./bench-event.js";
import { type Child, forkChild } from "./child-rpc.js";
import { countdown, settleWithin } from "./countdown.js";
import { connectSocket, dropTransport, newSocket } from "./loopback.js";
import type { GaugeReading } from "./server-gauges.js";
import type { StormServerSpec } from "./storm-server.js";

/** The storms of one system, run one after another on the same server and clients. */
export interface StormWork {
  clients: number;
  /** Events every client missed, per measured storm (in order). */
  missed: readonly number[];
  /** Events missed in the unmeasured warm-up storm (the server's code gets compiled). */
  warmUpMissed: number;
  /** Longest one storm's catch-up may take before it counts as failed. */
  timeoutMs: number;
}

/** One system in one storm. */
export type StormResult =
  | {
      system: string;
      label: string;
      clients: number;
      missed: number;
      /** From the first reconnect call to the last missed event in the last client's handler. */
      timeMs: number;
      /** The server process's peak RSS during the storm minus its RSS when it started, in MB. */
      rssGrowthMb: number;
      rssPeakSource: GaugeReading["rssPeakSource"];
      /** The server's event-loop delay during the storm (perf_hooks, 10 ms resolution). */
      lagMaxMs: number;
      lagP99Ms: number;
    }
  | { system: string; label: string; clients: number; missed: number; error: string };

/** A server the storm measures, with its key and label for the report. */
export interface StormSystem {
  key: string;
  label: string;
  spec: StormServerSpec;
}

/**
 * The systems of the storm: Socket.IO's recovery and Assured on each store but MongoDB (the
 * Mongo-wire test server reads a page in seconds: a storm of it would take minutes).
 */
export const STORM_SYSTEMS: readonly StormSystem[] = [
  {
    key: "socketio-csr",
    label: "Socket.IO connectionStateRecovery",
    spec: { system: "socketio-csr" },
  },
  ...(["memory", "sqlite", "redis", "postgres"] as const).map(
    (store): StormSystem => ({
      key: `assured-${store}`,
      label: `Assured, ${store} store`,
      spec: { system: "assured", store },
    }),
  ),
];

const EVENT = "event";
/** Clients connected at a time while setting up (the storm itself reconnects all at once). */
const CONNECT_GROUP = 100;
const SETUP_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000;
/**
 * The clients' connect timeout (socket.io-client's default is 20 s): a thousand handshakes at
 * once on a loaded machine take longer, and the storm's own timeout decides instead.
 */
const CONNECT_TIMEOUT_MS = 120_000;

/** A connected client of either kind. */
interface StormClient {
  socket: Socket;
  /** True once the reconnect recovered (Socket.IO's `recovered`, Assured's outcome). */
  recovered(): boolean;
  close(): Promise<void>;
}

/**
 * Runs one system's storms in one server process: `clients` clients connect and get one event
 * (so each has a position); then, per storm, all lose their transport, the server gets the
 * missed events and all reconnect at once, measured until every client handled every missed
 * event. A warm-up storm comes first; a long-running server has its code compiled. Never
 * throws: a failure is the result of the storms it prevented.
 */
export async function runStorms(
  system: StormSystem,
  work: StormWork,
  log: (line: string) => void,
): Promise<StormResult[]> {
  const base = { system: system.key, label: system.label, clients: work.clients };
  const results: StormResult[] = [];
  let child: Child | undefined;
  const clients: StormClient[] = [];
  try {
    child = await forkChild(new URL("./storm-server.ts", import.meta.url), ["--expose-gc"]);
    const server = child;
    const { url, stream } = await server.call<{ url: string; stream: string | null }>(
      "start",
      system.spec,
    );
    let sink: () => void = () => {};
    for (let i = 0; i < work.clients; i += CONNECT_GROUP) {
      const group: Promise<StormClient>[] = [];
      for (let j = i; j < Math.min(work.clients, i + CONNECT_GROUP); j++) {
        group.push(
          stream === null
            ? socketIoClient(url, () => sink())
            : assuredClient(url, stream, () => sink()),
        );
      }
      clients.push(...(await Promise.all(group)));
    }
    const first = countdown(work.clients, SETUP_TIMEOUT_MS, "first event");
    sink = () => first.tick();
    let published = 0;
    await server.call("publish", { from: published++, count: 1 });
    await first.done; // every client now holds a position
    let disconnects = 0;
    const storm = async (missed: number) => {
      sink = () => {};
      for (const client of clients) dropTransport(client.socket);
      disconnects += work.clients;
      await server.call("awaitDisconnects", disconnects, SETUP_TIMEOUT_MS);
      await server.call("publish", { from: published, count: missed });
      published += missed;
      await server.call("gaugesStart");
      const caughtUp = countdown(work.clients * missed, work.timeoutMs, "storm catch-up");
      sink = () => caughtUp.tick();
      const start = performance.now();
      const reconnected = clients.map((client) => connectSocket(client.socket));
      await Promise.all([...reconnected, caughtUp.done]);
      const timeMs = performance.now() - start;
      const gauges = await server.call<GaugeReading>("gaugesStop");
      const lost = clients.filter((c) => !c.recovered()).length;
      if (lost > 0) throw new Error(`${lost} of ${work.clients} clients did not recover`);
      return { timeMs, gauges };
    };
    await storm(work.warmUpMissed);
    for (const missed of work.missed) {
      const { timeMs, gauges } = await storm(missed);
      const result: StormResult = {
        ...base,
        missed,
        timeMs,
        rssGrowthMb: (gauges.rssPeakBytes - gauges.rssBeforeBytes) / 2 ** 20,
        rssPeakSource: gauges.rssPeakSource,
        lagMaxMs: gauges.lagMaxMs,
        lagP99Ms: gauges.lagP99Ms,
      };
      results.push(result);
      log(
        `  ${system.label}, ${work.clients} × ${missed}: ${Math.round(timeMs)} ms, server RSS +${result.rssGrowthMb.toFixed(1)} MB, lag max ${result.lagMaxMs.toFixed(1)} ms / p99 ${result.lagP99Ms.toFixed(1)} ms`,
      );
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    log(`  ${system.label}: ${reason}`);
    for (const missed of work.missed.slice(results.length)) {
      results.push({ ...base, missed, error: reason });
    }
  } finally {
    await Promise.all(clients.map((c) => settleWithin(c.close(), CLOSE_TIMEOUT_MS)));
    if (child) {
      await settleWithin(child.call("close"), CLOSE_TIMEOUT_MS);
      await child.stop();
    }
  }
  return results;
}

/** A plain Socket.IO client (the server keeps a recovery session for it). */
async function socketIoClient(url: string, onEvent: () => void): Promise<StormClient> {
  const socket = newSocket(url, { timeout: CONNECT_TIMEOUT_MS });
  socket.on(EVENT, () => onEvent());
  await connectSocket(socket);
  return {
    socket,
    recovered: () => socket.recovered,
    close: async () => void socket.disconnect(),
  };
}

/** An Assured client subscribed to `stream` from its head, with its default memory storage. */
async function assuredClient(
  url: string,
  stream: string,
  onEvent: () => void,
): Promise<StormClient> {
  const socket = newSocket(url, { timeout: CONNECT_TIMEOUT_MS });
  const client = createAssuredClient(socket);
  client.on<BenchEvent>(EVENT, () => onEvent());
  const outcomes: boolean[] = [];
  const subscribed = new Promise<void>((resolve) => {
    client.onRecovery((outcome) => {
      if (outcome.stream !== stream) return;
      outcomes.push(outcome.recovered);
      resolve();
    });
  });
  client.subscribe(stream, { from: "head" });
  await client.connect();
  await subscribed;
  return {
    socket,
    // The first outcome is the subscribe's; the latest reconnect's must be `recovered: true`.
    recovered: () => outcomes.length >= 2 && outcomes.at(-1) === true,
    async close() {
      await client.close();
      socket.disconnect();
    },
  };
}
