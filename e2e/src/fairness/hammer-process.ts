import type { ChildProcess } from "node:child_process";
import { Changes } from "../changes.js";
import { keepTail, readJsonLines, spawnTsxChild } from "../tsx-child.js";
import {
  HAMMER_CONFIG_ENV,
  type HammerConfig,
  type HammerLine,
  type HammerStats,
} from "./hammer-protocol.js";

/**
 * The parent's handle on one `hammer-child.ts` process: starts and stops its hammering phases
 * and collects what each phase got served.
 */
export class HammerProcess {
  readonly lines: HammerLine[] = [];
  readonly #process: ChildProcess;
  readonly #changes = new Changes();
  readonly #stderr: () => string;
  #exited = false;

  private constructor(config: HammerConfig) {
    this.#process = spawnTsxChild({
      entry: "fairness/hammer-child.ts",
      env: { [HAMMER_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    readJsonLines<HammerLine>(this.#process.stdout!, (line) => {
      this.lines.push(line);
      this.#changes.notify();
    });
    this.#stderr = keepTail(this.#process.stderr!);
    this.#process.on("exit", () => {
      this.#exited = true;
      this.#changes.notify();
    });
  }

  /** Starts the process and resolves once every client is connected. */
  static async start(config: HammerConfig): Promise<HammerProcess> {
    const child = new HammerProcess(config);
    try {
      await child.#until("connected", 20_000);
    } catch (error) {
      child.#process.kill("SIGKILL");
      throw error;
    }
    return child;
  }

  /**
   * Starts hammering and resolves once every client was refused at least once (its burst is
   * spent: from then on it is served at the sustained rate), or after `maxWaitMs` (a server
   * too slow to refuse anything is saturated too).
   */
  async hammer(maxWaitMs = 3_000): Promise<void> {
    const saturated = this.#count("saturated");
    this.#process.stdin!.write("start\n");
    await this.#until("saturated", maxWaitMs, saturated).catch(() => {
      if (this.#exited) throw new Error(`the hammer exited early:\n${this.#stderr()}`);
    });
  }

  /** Stops hammering and resolves with what the phase got served. */
  async stop(): Promise<HammerStats> {
    const stopped = this.#count("stopped");
    this.#process.stdin!.write("stop\n");
    const line = await this.#until("stopped", 10_000, stopped);
    return (line as Extract<HammerLine, { type: "stopped" }>).stats;
  }

  /** Ends the process (its sockets close with it). */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#process.stdin!.end();
    await this.#changes
      .until(() => this.#exited, { timeoutMs: 5_000, what: "the hammer to exit" })
      .catch(() => this.#process.kill("SIGKILL"));
  }

  #count(type: HammerLine["type"]): number {
    return this.lines.filter((l) => l.type === type).length;
  }

  #until(type: HammerLine["type"], timeoutMs: number, seen = 0): Promise<HammerLine> {
    return this.#changes.until(
      () => {
        if (this.#exited) throw new Error(`the hammer exited early:\n${this.#stderr()}`);
        return this.lines.filter((l) => l.type === type)[seen];
      },
      { timeoutMs, what: () => `a "${type}" line from the hammer; stderr:\n${this.#stderr()}` },
    );
  }
}
