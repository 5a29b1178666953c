/**
 * A chaos run's client worker: `clients` real `@assured/client` clients in one process (see
 * `WorkerClient`), logging to `logFile` and sending messages at their seeded rate. Run with
 * `node --conditions=@assured/source --import tsx e2e/src/chaos/client-worker.ts` and the
 * config in `ASSURED_CHAOS_WORKER` (see `ClientWorkerConfig`); `ClientWorkers` does that.
 *
 * Protocol (JSON lines, see `client-worker-protocol.ts`): once every client is connected and
 * has its first outcome on every stream it writes `{ type: "ready" }` to stdout and starts
 * sending. Then it reads `{ id, cmd, … }` commands from stdin and answers each with
 * `{ type: "reply", id, ok, result | error }`: `busy` (blocks the event loop for `ms`, replies
 * after), `pause-sending`, `resume-sending`, `status`, `stop` (closes everything, flushes the
 * log, replies `{ stopped: true }`, exits 0). The end of stdin (the parent died): exits 1.
 */
import { createInterface } from "node:readline";
import { WorkerClient } from "./client-worker-client.js";
import { ChaosLogWriter } from "./client-worker-log.js";
import {
  CLIENT_WORKER_CONFIG_ENV,
  type ClientWorkerConfig,
  type WorkerCommand,
  type WorkerOutput,
  type WorkerReplies,
  type WorkerRequest,
  type WorkerStatus,
} from "./client-worker-protocol.js";

/** Longest wait for every client to connect and subscribe. */
const READY_TIMEOUT_MS = 30_000;
/** Longest wait for stdout to take the last line before exiting anyway. */
const EXIT_GRACE_MS = 2_000;

const config = readConfig();
const log = new ChaosLogWriter(config.logFile, config.startedAt);
const clients = Array.from(
  { length: config.clients },
  (_, i) =>
    new WorkerClient({
      name: `${config.worker}-c${i}`,
      url: config.url,
      streams: config.streams,
      messagesPerSecond: config.messagesPerSecond,
      maxMessages: config.maxMessages,
      seed: config.seed,
      log,
    }),
);
/** Whether the clients should send: cleared by `pause-sending` (also before ready) and `stop`. */
let sending = true;
let ready = false;
let stopping: Promise<void> | undefined;

function readConfig(): ClientWorkerConfig {
  const raw = process.env[CLIENT_WORKER_CONFIG_ENV];
  if (!raw) throw new Error(`${CLIENT_WORKER_CONFIG_ENV} is not set`);
  return JSON.parse(raw) as ClientWorkerConfig;
}

function output(line: WorkerOutput, then?: () => void): void {
  process.stdout.write(`${JSON.stringify(line)}\n`, then);
}

/** Exits once stdout has taken what was written (or after a grace period). */
function exitAfterOutput(line: WorkerOutput, code: number): void {
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  output(line, () => process.exit(code));
}

function status(): WorkerStatus {
  return {
    worker: config.worker,
    sending: sending && ready && !stopping,
    clients: clients.map((c) => c.status()),
  };
}

function setSending(on: boolean): void {
  sending = on && !stopping;
  if (!ready) return;
  for (const c of clients) {
    if (sending) c.startSending();
    else c.stopSending();
  }
}

/** Blocks the event loop: no timer, socket or stdin callback runs meanwhile. */
function busy(ms: number): number {
  const start = Date.now();
  while (Date.now() - start < ms) {
    // Spinning: the main thread is busy.
  }
  return Date.now() - start;
}

function stop(): Promise<void> {
  stopping ??= (async () => {
    setSending(false);
    await Promise.all(clients.map((c) => c.close()));
    await log.close();
  })();
  return stopping;
}

async function run(command: WorkerCommand): Promise<WorkerReplies[WorkerCommand["cmd"]]> {
  switch (command.cmd) {
    case "busy":
      return { busyMs: busy(command.ms) };
    case "pause-sending":
      setSending(false);
      return { sending: false };
    case "resume-sending":
      setSending(true);
      return { sending: true };
    case "status":
      return status();
    case "stop":
      await stop();
      return { stopped: true };
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

function onRequest(text: string): void {
  if (!text.trim()) return;
  let request: WorkerRequest;
  try {
    request = JSON.parse(text) as WorkerRequest;
  } catch {
    process.stderr.write(`client worker ${config.worker}: bad command line ${text}\n`);
    return;
  }
  run(request).then(
    (result) => {
      const line: WorkerOutput = { type: "reply", id: request.id, ok: true, result };
      if (request.cmd === "stop") exitAfterOutput(line, 0);
      else output(line);
    },
    (error: unknown) => {
      const line: WorkerOutput = { type: "reply", id: request.id, ok: false, error: String(error) };
      if (request.cmd === "stop") exitAfterOutput(line, 1);
      else output(line);
    },
  );
}

async function start(): Promise<void> {
  await Promise.all(clients.map((c) => c.connect()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!clients.every((c) => c.ready)) {
    if (stopping) return;
    if (Date.now() > deadline) {
      const late = clients.filter((c) => !c.ready).map((c) => c.name);
      throw new Error(`not connected and subscribed after ${READY_TIMEOUT_MS} ms: ${late}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  ready = true;
  setSending(sending);
  output({ type: "ready", worker: config.worker });
}

const commands = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
commands.on("line", onRequest);
// The parent holds our stdin open: when it goes away, so does this worker.
commands.once("close", () => {
  if (stopping) return;
  setTimeout(() => process.exit(1), EXIT_GRACE_MS).unref();
  log.close().finally(() => process.exit(1));
});

start().catch((error: unknown) => {
  process.stderr.write(`client worker ${config.worker} failed to start: ${String(error)}\n`);
  void log.close().catch(() => undefined);
  exitAfterOutput({ type: "failed", worker: config.worker, error: String(error) }, 1);
});
