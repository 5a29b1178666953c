import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Changes } from "./changes.js";
import { CHILD_CONFIG_ENV, type ChildLine, type ChildServerConfig } from "./child-protocol.js";

const e2eRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(e2eRoot, "src", "child-server.ts");

/**
 * The parent's handle on one `child-server.ts` process: its reported lines, a way to wait for
 * them, and SIGKILL. Every line goes to `changes` so tests await them.
 */
export class ChildServerProcess {
  readonly lines: ChildLine[] = [];
  readonly #process: ChildProcess;
  readonly #changes: Changes;
  #stderr = "";
  #exited = false;

  private constructor(config: ChildServerConfig, changes: Changes) {
    this.#changes = changes;
    this.#process = spawn(
      process.execPath,
      ["--conditions=@assured/source", "--import", "tsx", entry],
      {
        cwd: e2eRoot,
        env: { ...process.env, [CHILD_CONFIG_ENV]: JSON.stringify(config), DEBUG: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let buffered = "";
    this.#process.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (text.startsWith("{")) this.lines.push(JSON.parse(text) as ChildLine);
      }
      changes.notify();
    });
    this.#process.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4_000);
    });
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
    if (child.#exited) throw new Error(`the child server exited early:\n${child.#stderr}`);
    return child;
  }

  /** Lines of one type. */
  of<T extends ChildLine["type"]>(type: T): Extract<ChildLine, { type: T }>[] {
    return this.lines.filter((l): l is Extract<ChildLine, { type: T }> => l.type === type);
  }

  /** What the child wrote to stderr (the last few KiB). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Kills the process with SIGKILL (no cleanup of any kind) and resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    this.#process.kill("SIGKILL");
    await this.#changes.until(() => this.#exited, { what: "the child server to exit" });
  }
}
