import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  clockFileOf,
  fakeClockEnv,
  findLibfaketime,
  writeClockOffset,
} from "../chaos/clock-jump.js";
import { NODE_CONFIG_ENV, type NodeConfig } from "./node-config.js";

/** The e2e package folder: the child's working directory, so `--import tsx` resolves. */
const E2E_DIR = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = fileURLToPath(new URL("./node-server.ts", import.meta.url));
/** Output kept for failure messages. */
const MAX_OUTPUT_CHARS = 32 * 1024;

/** Names a directory where each node's whole output is appended (`<name>.log`). */
const NODE_LOG_DIR_ENV = "ASSURED_NODE_LOG_DIR";

/** What `POST /publish` answers per event. */
export interface Published {
  offset: number;
  epoch: string;
}

/**
 * A node server running in its own process (see `node-server.ts`). Node runs the TypeScript
 * sources directly (`--import tsx`, no wrapper process), so `kill()` really is a SIGKILL of the
 * server: no close, no flush, sockets reset by the kernel.
 *
 * Where libfaketime is installed, the node runs under it with its own clock file
 * (`clockFileOf(config)`, offset `+0` until a `clock-jump` fault writes another; see
 * `chaos/clock-jump.ts`): its wall clock can then be moved without touching the machine's.
 */
export class NodeProcess {
  readonly config: NodeConfig;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";

  private constructor(config: NodeConfig, child: ChildProcess) {
    this.config = config;
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    // `ASSURED_NODE_LOG_DIR`: every node's whole output also goes to `<dir>/<name>.log` (with
    // `DEBUG=assured:*`, the server's own account of a chaos run).
    const logDir = process.env[NODE_LOG_DIR_ENV];
    const logFile = logDir ? join(logDir, `${config.name}.log`) : undefined;
    if (logDir) mkdirSync(logDir, { recursive: true });
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-MAX_OUTPUT_CHARS);
      if (logFile !== undefined) appendFileSync(logFile, chunk);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** Starts a node and resolves once it listens; rejects with its output if it exits first. */
  static async start(config: NodeConfig, timeoutMs = 60_000): Promise<NodeProcess> {
    const library = findLibfaketime();
    const clockFile = clockFileOf(config);
    // A node restarted during a jump keeps the jumped clock, as a process on that machine would.
    if (library !== undefined && !existsSync(clockFile)) writeClockOffset(clockFile, 0);
    const clockEnv = library === undefined ? {} : fakeClockEnv(library, clockFile, process.env);
    const child = spawn(
      process.execPath,
      ["--conditions=@assured/source", "--import", "tsx", ENTRY],
      {
        cwd: E2E_DIR,
        env: { ...process.env, ...clockEnv, [NODE_CONFIG_ENV]: JSON.stringify(config) },
        // stdin stays open for the node's life: it exits when this process goes away.
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    const node = new NodeProcess(config, child);
    try {
      await node.#ready(timeoutMs);
    } catch (error) {
      await node.kill();
      throw error;
    }
    return node;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.config.port}`;
  }

  /** The process's stdout and stderr so far (the last 32 KiB), for failure messages. */
  get output(): string {
    return this.#output;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Publishes `events` to `stream` on this node (name `e`); resolves their offsets. */
  async publish(stream: string, events: unknown[]): Promise<Published[]> {
    const res = await fetch(`${this.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream, events }),
    });
    const body = (await res.json()) as unknown;
    if (!res.ok) throw new Error(`publish on ${this.config.name} failed: ${JSON.stringify(body)}`);
    return body as Published[];
  }

  /** The node's RSS and worst event-loop lag since the previous call, or undefined when it does not answer. */
  async stats(): Promise<{ rssBytes: number; eventLoopLagMs: number } | undefined> {
    try {
      const res = await fetch(`${this.url}/stats`);
      return res.ok
        ? ((await res.json()) as { rssBytes: number; eventLoopLagMs: number })
        : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The node's wall clock (`Date.now()` in its process) and the offset its clock file gives it
   * (0 without libfaketime); undefined when it does not answer.
   */
  async clock(): Promise<{ now: number; offsetMs: number } | undefined> {
    try {
      const res = await fetch(`${this.url}/clock`);
      return res.ok ? ((await res.json()) as { now: number; offsetMs: number }) : undefined;
    } catch {
      return undefined;
    }
  }

  /** True when the node answers `/health` with 200. */
  async healthy(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/health`)).ok;
    } catch {
      return false;
    }
  }

  /** SIGKILL: the crash of the whole process. Resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.running) this.#child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGTERM (graceful close), SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    this.#child.kill("SIGTERM");
    await this.#exited;
    clearTimeout(timer);
  }

  #ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`node ${this.config.name} not ready after ${timeoutMs} ms:\n${this.#output}`),
        );
      }, timeoutMs);
      const onData = () => {
        if (!/^ready /m.test(this.#output)) return;
        clearTimeout(timer);
        this.#child.stdout?.off("data", onData);
        resolve();
      };
      this.#child.stdout?.on("data", onData);
      this.#child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `node ${this.config.name} exited (${code ?? signal}) before ready:\n${this.#output}`,
          ),
        );
      });
    });
  }
}
