import { createWriteStream, type WriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import type { ChaosLogLine } from "./chaos-log.js";

/** Longest a line waits in memory before it is handed to the file (ms). */
const FLUSH_INTERVAL_MS = 200;
/** Lines buffered before a flush happens early. */
const FLUSH_LINES = 2_000;

/** A `ChaosLogLine` without its time: `ChaosLogWriter.append` stamps it. */
export type UnstampedLine = ChaosLogLine extends infer L
  ? L extends ChaosLogLine
    ? Omit<L, "t">
    : never
  : never;

/**
 * Appends `ChaosLogLine`s to one file through one write stream: lines are buffered and handed
 * to the stream every 200 ms (or after 2,000 lines), and on `close()`. Each line's `t` is
 * `Date.now() - startedAt`, the orchestrator-relative time.
 */
export class ChaosLogWriter {
  readonly #stream: WriteStream;
  readonly #startedAt: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #buffer: string[] = [];
  #closing: Promise<void> | undefined;
  #error: Error | undefined;

  constructor(file: string, startedAt: number) {
    this.#startedAt = startedAt;
    this.#stream = createWriteStream(file, { flags: "a" });
    this.#stream.on("error", (error) => {
      this.#error ??= error;
    });
    this.#timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  /** The orchestrator-relative time now. */
  now(): number {
    return Date.now() - this.#startedAt;
  }

  /** Stamps `line` with the time now and buffers it. */
  append(line: UnstampedLine): void {
    if (this.#closing) return;
    // `kind` and `t` first, for people reading the file.
    const { kind, ...rest } = line;
    this.#buffer.push(`${JSON.stringify({ kind, t: this.now(), ...rest })}\n`);
    if (this.#buffer.length >= FLUSH_LINES) this.flush();
  }

  /** Hands the buffered lines to the file stream. */
  flush(): void {
    if (this.#buffer.length === 0 || this.#stream.writableEnded) return;
    this.#stream.write(this.#buffer.join(""));
    this.#buffer = [];
  }

  /** Flushes, ends the stream and resolves once the file has every line; rejects on a write error. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.flush();
      this.#stream.end();
      await finished(this.#stream);
      if (this.#error) throw this.#error;
    })();
    return this.#closing;
  }
}
