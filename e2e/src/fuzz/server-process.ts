import type { ChildProcess } from "node:child_process";
import { spawnTsxChild } from "../tsx-child.js";
import {
  FUZZ_SERVER_ENV,
  type FuzzServerConfig,
  type FuzzServerMessage,
  type FuzzServerRequest,
  type RoomLeak,
  type ServerStats,
  type StreamHead,
} from "./rules.js";

/** How the server process ended, when it ended on its own. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few KiB of its stderr (V8 prints "JavaScript heap out of memory" there). */
  stderr: string;
  /** What `uncaughtExceptionMonitor` reported, if anything. */
  fatal: string | undefined;
}

/** Options of `FuzzServerProcess.start`. */
export interface FuzzServerProcessOptions extends FuzzServerConfig {
  /** V8 heap limit of the server process (MiB): a memory bomb dies quickly instead of swapping. */
  maxOldSpaceMb: number;
}

/**
 * The parent's handle on one `fuzz-server.ts` process: its port, its periodic figures (RSS,
 * heap, event-loop lag, room audit), requests over IPC, and how it ended. A process that exits
 * before `stop()` is a crash.
 */
export class FuzzServerProcess {
  readonly port: number;
  /** Every periodic report, oldest first. */
  readonly stats: ServerStats[] = [];
  /** Room leaks the server's audit found (deduplicated by socket and stream). */
  readonly roomLeaks: RoomLeak[] = [];
  /** Most room members of disconnected sockets seen in one audit. */
  maxGhostMembers = 0;
  /** Publishes of the background publisher that failed. */
  readonly publishErrors: { stream: string; code: string; message: string }[] = [];
  /** Set once the process ended without being stopped. */
  crash: ServerExit | undefined;
  /** Time of the last message from the process (parent's clock). */
  lastMessageAt = Date.now();
  /** Longest gap between two periodic reports, by the server's own clock (ms). */
  maxReportGapMs = 0;

  readonly #process: ChildProcess;
  readonly #pending = new Map<number, (message: FuzzServerMessage) => void>();
  readonly #exitListeners = new Set<() => void>();
  readonly #seenLeaks = new Set<string>();
  #stderr = "";
  #fatal: string | undefined;
  #exited = false;
  #stopping = false;
  #nextRequest = 1;

  private constructor(process: ChildProcess, port: number) {
    this.#process = process;
    this.port = port;
  }

  /** Starts the server process and resolves once it listens. */
  static start(options: FuzzServerProcessOptions): Promise<FuzzServerProcess> {
    const { maxOldSpaceMb, ...config } = options;
    const child = spawnTsxChild({
      entry: "fuzz/fuzz-server.ts",
      env: { [FUZZ_SERVER_ENV]: JSON.stringify(config) },
      nodeFlags: [`--max-old-space-size=${maxOldSpaceMb}`, "--expose-gc"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    return new Promise((resolve, reject) => {
      let handle: FuzzServerProcess | undefined;
      let stderr = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the fuzz server did not start within 30 s:\n${stderr}`));
      }, 30_000);
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = (stderr + chunk).slice(-8_000);
        if (handle !== undefined) handle.#stderr = stderr;
      });
      child.on("message", (message: FuzzServerMessage) => {
        if (handle === undefined) {
          if (message.type !== "ready") return;
          clearTimeout(timer);
          handle = new FuzzServerProcess(child, message.port);
          handle.#stderr = stderr;
          resolve(handle);
          return;
        }
        handle.#onMessage(message);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (handle === undefined) {
          reject(new Error(`the fuzz server exited early (${code ?? signal}):\n${stderr}`));
          return;
        }
        handle.#onExit(code, signal);
      });
    });
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** True while the process runs. */
  get alive(): boolean {
    return !this.#exited;
  }

  /** Calls `listener` once when the process ends (at once if it has ended). */
  onExit(listener: () => void): () => void {
    if (this.#exited) {
      listener();
      return () => undefined;
    }
    this.#exitListeners.add(listener);
    return () => this.#exitListeners.delete(listener);
  }

  /** Epoch and head of every published stream. */
  async heads(): Promise<Record<string, StreamHead>> {
    const reply = await this.#request({ type: "heads" });
    if (reply.type !== "heads") throw new Error(`unexpected reply ${reply.type}`);
    return reply.heads;
  }

  /** Stops the background publisher and resolves with the final heads. */
  async stopPublishing(): Promise<Record<string, StreamHead>> {
    const reply = await this.#request({ type: "stop-publishing" });
    if (reply.type !== "heads") throw new Error(`unexpected reply ${reply.type}`);
    return reply.heads;
  }

  /** Current figures, after a full garbage collection when `gc` is set. */
  async measure(gc: boolean): Promise<ServerStats> {
    const reply = await this.#request({ type: "stats", gc });
    if (reply.type !== "stats") throw new Error(`unexpected reply ${reply.type}`);
    return reply.stats;
  }

  /** Ends the process (SIGTERM, then SIGKILL after 5 s); not a crash. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.onExit(resolve));
    this.#process.kill("SIGTERM");
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  #request(
    request:
      | Omit<Extract<FuzzServerRequest, { type: "heads" }>, "requestId">
      | Omit<Extract<FuzzServerRequest, { type: "stop-publishing" }>, "requestId">
      | Omit<Extract<FuzzServerRequest, { type: "stats" }>, "requestId">,
  ): Promise<FuzzServerMessage> {
    if (this.#exited) return Promise.reject(new Error("the fuzz server is not running"));
    const requestId = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new Error(`the fuzz server did not answer "${request.type}" within 20 s`));
      }, 20_000);
      const stopWaiting = this.onExit(() => {
        clearTimeout(timer);
        reject(new Error(`the fuzz server exited while answering "${request.type}"`));
      });
      this.#pending.set(requestId, (message) => {
        clearTimeout(timer);
        stopWaiting();
        resolve(message);
      });
      this.#process.send({ ...request, requestId } as FuzzServerRequest);
    });
  }

  #onMessage(message: FuzzServerMessage): void {
    this.lastMessageAt = Date.now();
    switch (message.type) {
      case "stats":
        this.#record(message.stats);
        break;
      case "publish-error":
        if (this.publishErrors.length < 100) this.publishErrors.push(message);
        break;
      case "fatal":
        this.#fatal = message.error;
        break;
      default:
        break;
    }
    const requestId = (message as { requestId?: number }).requestId;
    if (requestId !== undefined) {
      const resolve = this.#pending.get(requestId);
      this.#pending.delete(requestId);
      resolve?.(message);
    }
  }

  #record(stats: ServerStats): void {
    const previous = this.stats.at(-1);
    if (previous !== undefined) {
      this.maxReportGapMs = Math.max(this.maxReportGapMs, stats.at - previous.at);
    }
    this.stats.push(stats);
    this.maxGhostMembers = Math.max(this.maxGhostMembers, stats.ghostMembers);
    for (const leak of stats.roomLeaks) {
      const key = `${leak.socketId} ${leak.stream}`;
      if (this.#seenLeaks.has(key)) continue;
      this.#seenLeaks.add(key);
      this.roomLeaks.push(leak);
    }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#exited = true;
    if (!this.#stopping) {
      this.crash = { code, signal, stderr: this.#stderr, fatal: this.#fatal };
    }
    for (const listener of [...this.#exitListeners]) listener();
    this.#exitListeners.clear();
  }
}
