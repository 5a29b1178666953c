import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

const e2eRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** How to start a child. */
export interface TsxChildOptions {
  /** The entry file, relative to `e2e/src` (for example `"fuzz/fuzz-server.ts"`). */
  entry: string;
  /** Extra environment variables (the config the child reads). */
  env: Record<string, string>;
  /** Node flags before the source condition and tsx (for example `--expose-gc`). */
  nodeFlags?: string[];
  stdio: StdioOptions;
}

/**
 * Starts a TypeScript file of this package in its own Node process, from source (the
 * `@assured/source` condition, through tsx), with `DEBUG` cleared so its stdout stays data.
 */
export function spawnTsxChild(options: TsxChildOptions): ChildProcess {
  return spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      "--conditions=@assured/source",
      "--import",
      "tsx",
      join(e2eRoot, "src", options.entry),
    ],
    { cwd: e2eRoot, env: { ...process.env, ...options.env, DEBUG: "" }, stdio: options.stdio },
  );
}

/** Calls `onLine` with every JSON object a child writes to `stream`, one per line. */
export function readJsonLines<T>(stream: Readable, onLine: (line: T) => void): void {
  let buffered = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      const text = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (text.startsWith("{")) onLine(JSON.parse(text) as T);
    }
  });
}

/** Keeps the last `chars` characters a child writes to `stream` (its stderr, for error messages). */
export function keepTail(stream: Readable, chars = 4_000): () => string {
  let tail = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-chars);
  });
  return () => tail;
}
