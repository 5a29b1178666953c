import type { ChildProcess } from "node:child_process";
import { keepTail, readJsonLines, spawnTsxChild } from "../tsx-child.js";
import {
  CLIENT_WORKER_CONFIG_ENV,
  type ClientWorkerConfig,
  type WorkerCommand,
  type WorkerOutput,
  type WorkerReplies,
} from "./client-worker-protocol.js";

interface Waiting {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The parent's handle on one `client-worker.ts` process: its commands as promises (each with
 * a timeout), its readiness and its exit. A request pending when the process exits rejects at
 * once with the process's stderr.
 */
export class ClientWorkerProcess {
  readonly config: ClientWorkerConfig;
  readonly #child: ChildProcess;
  readonly #stderr: () => string;
  readonly #waiting = new Map<number, Waiting>();
  readonly #exited: Promise<void>;
  readonly #ready: Promise<void>;
  #nextId = 1;
  #exit: string | undefined;

  constructor(config: ClientWorkerConfig) {
    this.config = config;
    this.#child = spawnTsxChild({
      entry: "chaos/client-worker.ts",
      env: { [CLIENT_WORKER_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    // Writing to a worker that just died must not take the parent down (EPIPE).
    this.#child.stdin?.on("error", () => undefined);
    this.#stderr = keepTail(this.#child.stderr!);
    let onReady: () => void = () => undefined;
    let onFailed: (error: Error) => void = () => undefined;
    this.#ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFailed = reject;
    });
    // Callers that never await readiness must not see an unhandled rejection.
    this.#ready.catch(() => undefined);
    readJsonLines<WorkerOutput>(this.#child.stdout!, (line) => {
      if (line.type === "ready") onReady();
      else if (line.type === "failed") onFailed(this.#error(`failed to start: ${line.error}`));
      else if (line.type === "reply") {
        const waiting = this.#waiting.get(line.id);
        if (!waiting) return;
        this.#waiting.delete(line.id);
        clearTimeout(waiting.timer);
        if (line.ok) waiting.resolve(line.result);
        else waiting.reject(this.#error(line.error));
      }
    });
    this.#exited = new Promise<void>((resolve) => {
      // "close", not "exit": a reply written just before exiting is read first.
      this.#child.once("close", (code, signal) => {
        this.#exit = `exited (${code ?? signal})`;
        const error = this.#error(this.#exit);
        onFailed(error);
        for (const waiting of this.#waiting.values()) {
          clearTimeout(waiting.timer);
          waiting.reject(error);
        }
        this.#waiting.clear();
        resolve();
      });
    });
  }

  get name(): string {
    return this.config.worker;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The process's exit code (`null` while it runs or when a signal ended it). */
  get exitCode(): number | null {
    return this.#child.exitCode;
  }

  /** Resolves once every client is connected and subscribed; rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    return withTimeout(this.#ready, timeoutMs, () =>
      this.#error(`not ready after ${timeoutMs} ms`),
    );
  }

  /** Sends `command`; resolves with its reply, rejects on an error reply, exit or timeout. */
  request<C extends WorkerCommand>(
    command: C,
    timeoutMs: number,
  ): Promise<WorkerReplies[C["cmd"]]> {
    if (this.#exit !== undefined) return Promise.reject(this.#error(this.#exit));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(this.#error(`no reply to ${JSON.stringify(command)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, { resolve: resolve as (result: unknown) => void, reject, timer });
      this.#child.stdin?.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  /** Resolves true once the process has exited, false after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<boolean> {
    if (this.#exit !== undefined) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.#exited.then(() => true), late]);
    clearTimeout(timer);
    return result;
  }

  /** SIGKILL; resolves once the process has exited. */
  async kill(): Promise<void> {
    if (this.#exit === undefined) this.#child.kill("SIGKILL");
    await this.#exited;
  }

  #error(message: string): Error {
    return new Error(`client worker ${this.name}: ${message}; stderr:\n${this.#stderr()}`);
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
