/**
 * Hostile-but-compliant clients in their own process, for the fairness test: each socket sends
 * `assured:heads` with the most streams the server accepts, or `assured:fetch` with the largest
 * limit, as fast as the server lets it — the next request as soon as a reply arrives, with
 * `inFlight` requests outstanding, and a short exponential backoff after each `RATE_LIMITED`.
 * Living in another process, their own decoding does not take the measured client's event
 * loop. Commands on stdin (`start`, `stop`), reports on stdout (see `HammerLine`). Run with
 * `node --conditions=@assured/source --import tsx e2e/src/fairness/hammer-child.ts`.
 */
import { createInterface } from "node:readline";
import { io, type Socket } from "socket.io-client";
import {
  HAMMER_CONFIG_ENV,
  type HammerConfig,
  type HammerLine,
  type HammerStats,
} from "./hammer-protocol.js";

const config = JSON.parse(process.env[HAMMER_CONFIG_ENV] ?? "{}") as HammerConfig;

function report(line: HammerLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

interface Reply {
  ok: boolean;
  error?: { code: string };
  heads?: Record<string, unknown>;
  records?: { count: number; bytes: number };
}

type Kind = "heads" | "fetch" | "msg";

const zeroStats = (): HammerStats => ({
  served: 0,
  limited: 0,
  failed: 0,
  heads: 0,
  messages: 0,
  records: 0,
  bytes: 0,
  ms: 0,
});

let stats = zeroStats();
let running = false;
let startedAt = 0;
let generation = 0;
const refusedSinceStart = new Set<number>();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function connect(index: number): Promise<Socket> {
  const socket = io(config.url, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    auth: { assured: { v: 2, clientId: `hammer-${process.pid}-${index}`, subscriptions: [] } },
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** An `echo` message: `"hi"` encoded (MessagePack). */
const ECHO_PAYLOAD = new Uint8Array([0xa2, 0x68, 0x69]);

function request(socket: Socket, kind: Kind, seq: number): Promise<Reply> {
  if (kind === "msg") {
    const frame = {
      id: `m-${process.pid}-${seq}-${socket.id}`,
      seq,
      name: "echo",
      payload: ECHO_PAYLOAD,
    };
    return socket.timeout(10_000).emitWithAck("assured:msg", frame) as Promise<Reply>;
  }
  const frame =
    kind === "heads"
      ? { streams: config.headsStreams }
      : {
          stream: config.fetch.stream,
          epoch: config.fetch.epoch,
          after: config.fetch.after,
          limit: config.fetch.limit,
        };
  return socket.timeout(10_000).emitWithAck(`assured:${kind}`, frame) as Promise<Reply>;
}

/** One request loop of one client: runs while the phase it was started in lasts. */
async function worker(socket: Socket, index: number, kind: Kind, phase: number): Promise<void> {
  let refusals = 0;
  // A message refused with RATE_LIMITED is sent again (same id and seq), as a client must;
  // one left unanswered when a phase stops is sent first in the next.
  let seq = unfinished[index] ?? nextSeq[index]!++;
  unfinished[index] = undefined;
  while (running && generation === phase && socket.connected) {
    let reply: Reply;
    try {
      reply = await request(socket, kind, seq);
    } catch {
      stats.failed++;
      continue;
    }
    if (generation !== phase) {
      if (!reply.ok) unfinished[index] = seq;
      return;
    }
    if (reply.ok) {
      refusals = 0;
      stats.served++;
      seq = nextSeq[index]!++;
      if (kind === "msg") stats.messages++;
      else if (kind === "heads") stats.heads += Object.keys(reply.heads ?? {}).length;
      else {
        stats.records += reply.records?.count ?? 0;
        // Payload bytes as the page announces them.
        stats.bytes += reply.records?.bytes ?? 0;
      }
      continue;
    }
    if (reply.error?.code !== "RATE_LIMITED") {
      stats.failed++;
      continue;
    }
    stats.limited++;
    if (!refusedSinceStart.has(index)) {
      refusedSinceStart.add(index);
      if (refusedSinceStart.size === sockets.length) {
        // Every burst is spent: from now on the counters show the sustained rate.
        stats = zeroStats();
        startedAt = performance.now();
        report({ type: "saturated" });
      }
    }
    const { minMs, maxMs } = config.backoff;
    await sleep(Math.min(maxMs, minMs * 2 ** refusals));
    refusals++;
  }
  if (kind === "msg") unfinished[index] ??= seq;
}

const kinds: Kind[] = [
  ...Array.from({ length: config.headsClients }, () => "heads" as const),
  ...Array.from({ length: config.fetchClients }, () => "fetch" as const),
  ...Array.from({ length: config.messageClients ?? 0 }, () => "msg" as const),
];
/** The next message seq of each client. */
const nextSeq = kinds.map(() => 1);
/** The seq of a client's message left unanswered by a phase that stopped. */
const unfinished: (number | undefined)[] = kinds.map(() => undefined);
const sockets = await Promise.all(kinds.map((_, index) => connect(index)));
report({ type: "connected" });

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "start" && !running) {
    running = true;
    generation++;
    stats = zeroStats();
    startedAt = performance.now();
    refusedSinceStart.clear();
    sockets.forEach((socket, index) => {
      // Messages one at a time: a refused message must be handled before later ones (G10),
      // so a window would only add refusals.
      const workers = kinds[index] === "msg" ? 1 : config.inFlight;
      for (let i = 0; i < workers; i++) void worker(socket, index, kinds[index]!, generation);
    });
  } else if (command === "stop" && running) {
    running = false;
    generation++;
    report({ type: "stopped", stats: { ...stats, ms: performance.now() - startedAt } });
  }
});
process.stdin.on("end", () => {
  for (const socket of sockets) socket.disconnect();
  process.exit(0);
});
