import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChaosLogLine } from "./chaos-log.js";
import { ClientWorkerProcess } from "./client-worker-process.js";
import type { ClientStatus, WorkerStatus } from "./client-worker-protocol.js";

export type { ClientStatus, WorkerStatus } from "./client-worker-protocol.js";

/** Options of `ClientWorkers.start`. */
export interface ClientWorkersOptions {
  /** Worker processes, named `w0`, `w1`… */
  workers: number;
  /** Clients per process, named `w0-c0`, `w0-c1`… */
  clientsPerWorker: number;
  /** Where every client connects. */
  url: string;
  /** Streams every client subscribes to from `"earliest"` (handler for event `e`). */
  streams: string[];
  /** The orchestrator's `Date.now()` at the run's start (log lines' `t` counts from it). */
  startedAt: number;
  /** Messages per second per client (Poisson), `record` `{ client, n }`. */
  messagesPerSecond: number;
  /** Messages per client in all. */
  maxMessages: number;
  /** Seeds the message gaps (each client mixes in its name). */
  seed: number;
  /** Folder of the log files, `client-w0.jsonl`… (created; the files are truncated). */
  dir: string;
  /** Longest wait for every worker to be connected and subscribed (default 30,000 ms). */
  startTimeoutMs?: number;
}

/** Longest wait for a reply to a command (plus the busy time for `busy`). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Longest wait for a worker to close its clients and flush its log. */
const STOP_TIMEOUT_MS = 20_000;
/** Longest wait for a worker to exit once it replied to `stop`. */
const EXIT_TIMEOUT_MS = 5_000;
/** Interval between two status polls of `waitUntil`. */
const POLL_MS = 100;

/**
 * The chaos run's client load: several worker processes (`client-worker.ts`), each with
 * several real `@assured/client` clients that subscribe to every stream, send `record`
 * messages at a seeded rate and log what they see (`ChaosLogLine`s) to their own file.
 * `start` resolves once every client is connected and subscribed, and has started sending.
 *
 * @example
 * const workers = await ClientWorkers.start({ workers: 2, clientsPerWorker: 25, url, … });
 * await workers.busy(0, 2_000); // worker w0's main thread blocked for 2 s
 * await workers.waitUntil(() => …, 60_000, "every event delivered");
 * await workers.stop();
 * const lines = await workers.readLines();
 */
export class ClientWorkers {
  readonly options: ClientWorkersOptions;
  readonly #workers: ClientWorkerProcess[];
  #stopping: Promise<void> | undefined;

  private constructor(options: ClientWorkersOptions, workers: ClientWorkerProcess[]) {
    this.options = options;
    this.#workers = workers;
  }

  /** Starts every worker; kills them all if one fails to get ready. */
  static async start(options: ClientWorkersOptions): Promise<ClientWorkers> {
    await mkdir(options.dir, { recursive: true });
    const configs = Array.from({ length: options.workers }, (_, i) => ({
      worker: `w${i}`,
      url: options.url,
      clients: options.clientsPerWorker,
      streams: options.streams,
      startedAt: options.startedAt,
      messagesPerSecond: options.messagesPerSecond,
      maxMessages: options.maxMessages,
      seed: options.seed,
      logFile: join(options.dir, `client-w${i}.jsonl`),
    }));
    await Promise.all(configs.map((c) => writeFile(c.logFile, "")));
    const workers = configs.map((config) => new ClientWorkerProcess(config));
    try {
      const timeoutMs = options.startTimeoutMs ?? 30_000;
      await Promise.all(workers.map((w) => w.ready(timeoutMs)));
    } catch (error) {
      await Promise.all(workers.map((w) => w.kill()));
      throw error;
    }
    return new ClientWorkers(options, workers);
  }

  /** How many worker processes run. */
  get count(): number {
    return this.#workers.length;
  }

  /** The workers' names, `w0`, `w1`… */
  get names(): string[] {
    return this.#workers.map((w) => w.name);
  }

  /** Blocks worker `worker`'s main thread for `ms`; resolves once the block is over. */
  async busy(worker: number, ms: number): Promise<void> {
    await this.#worker(worker).request({ cmd: "busy", ms }, ms + REQUEST_TIMEOUT_MS);
  }

  /** Stops the message timers of one worker (or of all). */
  async pauseSending(worker?: number): Promise<void> {
    await Promise.all(
      this.#select(worker).map((w) => w.request({ cmd: "pause-sending" }, REQUEST_TIMEOUT_MS)),
    );
  }

  /** Restarts the message timers of one worker (or of all). */
  async resumeSending(worker?: number): Promise<void> {
    await Promise.all(
      this.#select(worker).map((w) => w.request({ cmd: "resume-sending" }, REQUEST_TIMEOUT_MS)),
    );
  }

  /** Every worker's status (a busy worker answers once its block is over). */
  status(): Promise<WorkerStatus[]> {
    return Promise.all(this.#workers.map((w) => w.request({ cmd: "status" }, REQUEST_TIMEOUT_MS)));
  }

  /** One worker's status. */
  statusOf(worker: number): Promise<WorkerStatus> {
    return this.#worker(worker).request({ cmd: "status" }, REQUEST_TIMEOUT_MS);
  }

  /** Whether every client emitted `maxMessages` and every one of its promises settled. */
  async settledAll(): Promise<boolean> {
    return ClientWorkers.allSettled(await this.status(), this.options.maxMessages);
  }

  /** `settledAll` on a status already fetched. */
  static allSettled(status: WorkerStatus[], maxMessages: number): boolean {
    return status.every((w) =>
      w.clients.every((c) => c.emitted === maxMessages && c.settled === c.emitted),
    );
  }

  /**
   * Polls `status()` until `check` holds and resolves with that status; rejects after
   * `timeoutMs` (plus at most one status request) with `what` and the last status.
   */
  async waitUntil(
    check: (status: WorkerStatus[]) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<WorkerStatus[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.status();
      if (check(status)) return status;
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; clients:\n${describe(status)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /**
   * Stops every worker: each stops sending, closes its clients, flushes its log and exits.
   * A worker that does not is killed, and `stop` rejects. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const results = await Promise.allSettled(this.#workers.map((w) => stopWorker(w)));
      const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      if (failures.length > 0) {
        throw new Error(`${failures.length} client worker(s) did not stop cleanly`, {
          cause: failures,
        });
      }
    })();
    return this.#stopping;
  }

  /** SIGKILLs every worker still running (cleanup after a failure; logs keep what was flushed). */
  async kill(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.kill()));
  }

  /** The workers' log files, in worker order. */
  logFiles(): string[] {
    return this.#workers.map((w) => w.config.logFile);
  }

  /**
   * Every line of every log file: each file's lines in the order written, files in worker
   * order (not merged by `t`). A last line cut short (a killed worker) is left out; any other
   * line that is not JSON rejects.
   */
  async readLines(): Promise<ChaosLogLine[]> {
    const lines: ChaosLogLine[] = [];
    for (const file of this.logFiles())
      for (const line of await readLogFile(file)) lines.push(line);
    return lines;
  }

  #worker(index: number): ClientWorkerProcess {
    const worker = this.#workers[index];
    if (!worker) throw new RangeError(`no client worker ${index} (${this.#workers.length} run)`);
    return worker;
  }

  #select(index: number | undefined): ClientWorkerProcess[] {
    return index === undefined ? this.#workers : [this.#worker(index)];
  }
}

/** The `ChaosLogLine`s of one file (see `ClientWorkers.readLines`). */
export async function readLogFile(file: string): Promise<ChaosLogLine[]> {
  const text = await readFile(file, "utf8");
  const parts = text.split("\n");
  // Everything after the last newline is an unfinished line (or nothing).
  parts.pop();
  return parts.map((part, i) => {
    try {
      return JSON.parse(part) as ChaosLogLine;
    } catch {
      throw new Error(`${file}:${i + 1} is not a JSON line: ${part.slice(0, 200)}`);
    }
  });
}

async function stopWorker(worker: ClientWorkerProcess): Promise<void> {
  if (!worker.running) {
    throw new Error(`client worker ${worker.name} had already exited (${worker.exitCode})`);
  }
  try {
    await worker.request({ cmd: "stop" }, STOP_TIMEOUT_MS);
    if (!(await worker.exited(EXIT_TIMEOUT_MS))) {
      throw new Error(`client worker ${worker.name} did not exit after stop`);
    }
    if (worker.exitCode !== 0) {
      throw new Error(`client worker ${worker.name} exited with ${worker.exitCode} after stop`);
    }
  } catch (error) {
    await worker.kill();
    throw error;
  }
}

function describe(status: WorkerStatus[]): string {
  return status
    .flatMap((w) => w.clients)
    .map((c: ClientStatus) => {
      const at = Object.entries(c.delivered)
        .map(([stream, offset]) => `${stream}@${offset}`)
        .join(",");
      return `  ${c.name} ${c.connected ? "up" : "down"} ${at} emitted ${c.emitted} settled ${c.settled} failed ${c.failed} pending ${c.pending}`;
    })
    .join("\n");
}
