import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

/** The chat server running as a child process, as `pnpm start` runs it. */
export interface ChatProcess {
  url: string;
  /** SIGKILL: the process dies at once, mid-write if it was writing. Resolves once it is gone. */
  kill(): Promise<void>;
  /** A clean stop by SIGTERM (default) or SIGINT (Ctrl-C). Resolves with the exit code. */
  stop(signal?: "SIGTERM" | "SIGINT"): Promise<number | null>;
  /** What the process printed after its URL, on stdout and stderr; resolves once it exited. */
  output(): Promise<{ stdout: string; stderr: string }>;
}

/** Options of `startChatProcess`. */
export interface ChatProcessOptions {
  dbPath: string;
  port: number;
  /** `CHAT_LEASE_MS`: how soon a message whose handler died with the process runs again. */
  leaseMs?: number;
}

/**
 * Starts `src/server.ts` (with tsx and the `@assured/source` condition) on a SQLite file and a
 * port, and resolves once it prints its URL.
 */
export function startChatProcess(options: ChatProcessOptions): Promise<ChatProcess> {
  const child = spawn(
    process.execPath,
    ["--conditions=@assured/source", "--import", "tsx", "src/server.ts"],
    {
      cwd: PACKAGE_DIR,
      env: {
        ...process.env,
        PORT: String(options.port),
        HOST: "127.0.0.1",
        CHAT_DB: options.dbPath,
        CHAT_LEASE_MS: String(options.leaseMs ?? 1_000),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  // "close" follows "exit" once the output pipes are drained too.
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return new Promise((resolve, reject) => {
    let output = "";
    let ready = false;
    // After the URL: what a stop prints (a few lines), kept for `output()`.
    const after = { stdout: "", stderr: "" };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the chat server did not start in 20 s:\n${output}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      if (ready) {
        after.stdout += chunk.toString();
        return;
      }
      output += chunk.toString();
      const url = /running at (http:\/\/\S+)/.exec(output)?.[1];
      if (url === undefined) return;
      ready = true;
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      resolve({
        url,
        kill: () => signal(child, "SIGKILL", exited).then(() => undefined),
        stop: (name = "SIGTERM") => signal(child, name, exited),
        output: () => closed.then(() => ({ ...after })),
      });
    };
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`the chat server exited (${code}) before it was ready:\n${output}`));
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      if (ready) after.stderr += chunk.toString();
      else output += chunk.toString();
    });
    child.once("exit", onEarlyExit);
  });
}

function signal(
  child: ChildProcess,
  name: NodeJS.Signals,
  exited: Promise<number | null>,
): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill(name);
  return exited;
}
