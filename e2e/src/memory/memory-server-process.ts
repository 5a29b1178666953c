import type { ChildProcess } from "node:child_process";
import { spawnTsxChild } from "../tsx-child.js";
import {
  MEMORY_CONFIG_ENV,
  type MemoryCommand,
  type MemoryServerConfig,
  type MemoryStats,
} from "./memory-protocol.js";

type Command = MemoryCommand extends infer C
  ? C extends { id: number }
    ? Omit<C, "id">
    : never
  : never;

/**
 * The parent's handle on one `memory-server.ts` process: its URL, its memory figures and the
 * commands it runs. The child runs with `--expose-gc`, so `stats({ gc: true })` measures what the
 * server really holds.
 */
export class MemoryServerProcess {
  readonly url: string;
  readonly #process: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(e: Error): void }>();
  #next = 1;
  #stderr = "";

  private constructor(process: ChildProcess, port: number) {
    this.#process = process;
    this.url = `http://127.0.0.1:${port}`;
    process.on("message", (message: { id?: number; result?: unknown; error?: string }) => {
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (waiter === undefined) return;
      this.#pending.delete(message.id!);
      if (message.error !== undefined) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
    process.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4_000);
    });
    process.on("exit", () => {
      for (const waiter of this.#pending.values()) {
        waiter.reject(new Error(`the memory server exited:\n${this.#stderr}`));
      }
      this.#pending.clear();
    });
  }

  /** Starts a server process and resolves once it listens. */
  static async start(config: MemoryServerConfig): Promise<MemoryServerProcess> {
    const child = spawnTsxChild({
      entry: "memory/memory-server.ts",
      env: { [MEMORY_CONFIG_ENV]: JSON.stringify(config) },
      nodeFlags: ["--expose-gc"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the memory server did not start:\n${stderr}`));
      }, 30_000);
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`the memory server exited early:\n${stderr}`));
      });
      child.on("message", (message: { ready?: number }) => {
        if (message.ready === undefined) return;
        clearTimeout(timer);
        resolve(message.ready);
      });
    });
    return new MemoryServerProcess(child, port);
  }

  /** Runs a command in the child and resolves with its result. */
  run<T>(command: Command): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#process.send({ ...command, id });
    });
  }

  /** Memory figures and counters; with `gc`, after two full garbage collections. */
  stats(gc = false): Promise<MemoryStats> {
    return this.run<MemoryStats>({ type: "stats", gc });
  }

  /**
   * Resolves once `check` holds for the child's stats, asking every 20 ms (the child's state
   * changes without telling the parent), or rejects after `timeoutMs`.
   */
  async until(
    check: (stats: MemoryStats) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<MemoryStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (check(stats)) return stats;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; last stats: ${JSON.stringify(stats)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the process and resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#process.once("exit", resolve));
    this.#process.kill("SIGKILL");
    await exited;
  }
}
