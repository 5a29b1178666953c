import type { ChildProcess } from "node:child_process";
import type { Changes } from "./changes.js";
import { CHILD_CONFIG_ENV, type ChildLine, type ChildServerConfig } from "./child-protocol.js";
import { keepTail, readJsonLines, spawnTsxChild } from "./tsx-child.js";

/**
 * The parent's handle on one `child-server.ts` process: its reported lines, a way to wait for
 * them, and SIGKILL. Every line goes to `changes` so tests await them.
 */
export class ChildServerProcess {
  readonly lines: ChildLine[] = [];
  readonly #process: ChildProcess;
  readonly #changes: Changes;
  readonly #stderr: () => string;
  #exited = false;

  private constructor(config: ChildServerConfig, changes: Changes) {
    this.#changes = changes;
    this.#process = spawnTsxChild({
      entry: "child-server.ts",
      env: { [CHILD_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    readJsonLines<ChildLine>(this.#process.stdout!, (line) => {
      this.lines.push(line);
      changes.notify();
    });
    this.#stderr = keepTail(this.#process.stderr!);
    this.#process.on("exit", () => {
      this.#exited = true;
      changes.notify();
    });
  }

  /** Starts a child server and resolves once it listens. */
  static async start(config: ChildServerConfig, changes: Changes): Promise<ChildServerProcess> {
    const child = new ChildServerProcess(config, changes);
    await changes
      .until(() => child.lines.some((l) => l.type === "ready") || child.#exited, {
        timeoutMs: 20_000,
        what: "the child server to listen",
      })
      .catch((error: unknown) => {
        child.#process.kill("SIGKILL");
        throw error;
      });
    if (child.#exited) throw new Error(`the child server exited early:\n${child.#stderr()}`);
    return child;
  }

  /** Lines of one type. */
  of<T extends ChildLine["type"]>(type: T): Extract<ChildLine, { type: T }>[] {
    return this.lines.filter((l): l is Extract<ChildLine, { type: T }> => l.type === type);
  }

  /** What the child wrote to stderr (the last few KiB). */
  get stderr(): string {
    return this.#stderr();
  }

  /** Kills the process with SIGKILL (no cleanup of any kind) and resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    this.#process.kill("SIGKILL");
    await this.#changes.until(() => this.#exited, { what: "the child server to exit" });
  }
}
