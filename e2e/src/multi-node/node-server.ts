/**
 * One Assured server node, run as its own process so tests can SIGKILL it:
 * `node --conditions=@assured/source --import tsx src/multi-node/node-server.ts` with the
 * config in `ASSURED_NODE_CONFIG` (see `NodeConfig`). It prints `ready` once it listens.
 *
 * - Socket.IO on 127.0.0.1:<port>, Assured on the stores of `openBackend`.
 * - Client message `record` `{ client, n, hangOn? }`: appends to the shared handled log, answers
 *   `{ node, n }`; on the node named `hangOn` the handler never finishes (a crash mid-handler).
 * - `POST /publish` `{ stream, events }`: publishes each event as `e`, answers
 *   `[{ offset, epoch }]` (503 with the error code when publishing fails).
 * - `GET /health`: 200 once the stores (and the adapter's Redis connections) answer, else 503.
 * - `GET /stats`: `{ rssBytes, eventLoopLagMs }` (the worst event-loop delay since the last call).
 * - `GET /clock`: `{ now, offsetMs }`: this process's `Date.now()` and the offset its clock file
 *   gives it under libfaketime (`chaos/clock-jump.ts`). Handled-log times are real times.
 * - SIGTERM: closes everything and exits 0. The end of stdin (the test process died): exits 1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { AssuredError } from "@assured/core";
import { createAssuredServer } from "@assured/server";
import { Server } from "socket.io";
import { CLOCK_FILE_ENV, readClockOffsetMs, trueNow } from "../chaos/clock-jump.js";
import { openBackend } from "./node-backend.js";
import { readNodeConfig } from "./node-config.js";

/** Largest request body accepted by the HTTP endpoints. */
const MAX_BODY_BYTES = 1024 * 1024;

interface RecordMessage {
  client: string;
  n: number;
  hangOn?: string;
}

const config = readNodeConfig();
const backend = await openBackend(config);
const httpServer = createServer((req, res) => {
  route(req, res).catch((error: unknown) => reply(res, 500, { message: String(error) }));
});
const io = new Server(httpServer, {
  ...(backend.adapter ? { adapter: backend.adapter } : {}),
  ...(config.pingIntervalMs === undefined ? {} : { pingInterval: config.pingIntervalMs }),
  ...(config.pingTimeoutMs === undefined ? {} : { pingTimeout: config.pingTimeoutMs }),
});
const assured = createAssuredServer(io, {
  store: backend.store,
  dedupStore: backend.dedupStore,
  ...(config.leaseMs === undefined ? {} : { limits: { leaseMs: config.leaseMs } }),
});

assured.on("record", async (data: RecordMessage, { id }) => {
  // The real time, not the node's (possibly jumped) clock: the checker compares it with the run's.
  const at = trueNow();
  await backend.handled.record({ id, node: config.name, client: data.client, n: data.n, at });
  if (data.hangOn === config.name) await new Promise<never>(() => {});
  return { node: config.name, client: data.client, n: data.n };
});

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === "GET" && req.url === "/stats") {
    const eventLoopLagMs = lag.max / 1e6;
    lag.reset();
    reply(res, 200, { rssBytes: process.memoryUsage().rss, eventLoopLagMs });
    return;
  }
  if (req.method === "GET" && req.url === "/clock") {
    const now = Date.now();
    reply(res, 200, { now, offsetMs: readClockOffsetMs(process.env[CLOCK_FILE_ENV]) });
    return;
  }
  if (req.method === "GET" && req.url === "/health") {
    reply(res, (await backend.healthy()) ? 200 : 503, {});
    return;
  }
  if (req.method === "POST" && req.url === "/publish") {
    const { stream, events } = JSON.parse(await readBody(req)) as {
      stream: string;
      events: unknown[];
    };
    try {
      const results = await Promise.all(events.map((data) => assured.publish(stream, "e", data)));
      reply(
        res,
        200,
        results.map(({ offset, epoch }) => ({ offset, epoch })),
      );
    } catch (error) {
      const code = error instanceof AssuredError ? error.code : "INTERNAL";
      reply(res, 503, { code, message: String(error) });
    }
    return;
  }
  reply(res, 404, {});
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error("request body too large"));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

// The test holds our stdin open: when the test process goes away, so does this node.
process.stdin.resume();
process.stdin.once("end", () => process.exit(1));

process.once("SIGTERM", () => {
  void (async () => {
    await assured.close();
    await io.close();
    await backend.close();
    process.exit(0);
  })();
});

httpServer.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`ready ${config.name} ${config.port}\n`);
});
