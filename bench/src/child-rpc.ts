// A forked Node process answering commands over IPC: the bench runs a server in a child so
// that the server's memory and event loop are measured apart from the clients'.
import { type ChildProcess, fork } from "node:child_process";
import { reasonOf } from "./reason.js";

/** A request to the child: a command name and its JSON argument. */
interface Request {
  id: number;
  command: string;
  arg: unknown;
}

/** The child's answer to one request. */
type Reply = { id: number; result: unknown } | { id: number; error: string };

/** The parent's handle on a forked child. */
export interface Child {
  /** Sends a command and resolves with its result (rejects with the child's error or a timeout). */
  call<T>(command: string, arg?: unknown, timeoutMs?: number): Promise<T>;
  readonly pid: number;
  /** Closes the channel (the child exits), kills it if it does not, and waits for the exit. */
  stop(): Promise<void>;
}

const CALL_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;

/** Extra Node flags for every bench child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
function flagsFromEnvironment(): string[] {
  return (process.env.BENCH_CHILD_FLAGS ?? "").split(" ").filter((flag) => flag !== "");
}

/**
 * Forks `module` with this process's Node flags (the TypeScript loader included) plus
 * `extraFlags` and `BENCH_CHILD_FLAGS`, and waits for it to say it is ready.
 */
export async function forkChild(module: URL, extraFlags: readonly string[] = []): Promise<Child> {
  const child: ChildProcess = fork(module, [], {
    execArgv: [...process.execArgv, ...extraFlags, ...flagsFromEnvironment()],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exited = true;
      for (const w of waiting.values()) {
        w.reject(new Error(`the bench child exited (${signal ?? `code ${code}`})`));
      }
      waiting.clear();
      resolve();
    }),
  );
  child.on("message", (message: Reply) => {
    const w = waiting.get(message.id);
    if (w === undefined) return;
    waiting.delete(message.id);
    if ("error" in message) w.reject(new Error(message.error));
    else w.resolve(message.result);
  });
  let next = 0;
  const handle: Child = {
    pid: child.pid!,
    call<T>(command: string, arg?: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
      if (exited) return Promise.reject(new Error("the bench child has exited"));
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${command}: no answer from the bench child within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, command, arg } satisfies Request);
      });
    },
    async stop() {
      // Closing the channel lets the child exit by itself (writing a --cpu-prof profile, say);
      // one that does not within STOP_GRACE_MS is killed.
      if (!exited && child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill(), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    },
  };
  await handle.call("ping", undefined, 60_000);
  return handle;
}

/** In the child: answers the parent's commands with `handlers` until the parent disconnects. */
export function serveParent(
  handlers: Record<string, (arg: unknown) => unknown | Promise<unknown>>,
): void {
  const send = (reply: Reply) => process.send!(reply);
  process.on("message", async (request: Request) => {
    try {
      const handler = request.command === "ping" ? () => "pong" : handlers[request.command];
      if (handler === undefined) throw new Error(`unknown command ${request.command}`);
      send({ id: request.id, result: (await handler(request.arg)) ?? null });
    } catch (error) {
      send({ id: request.id, error: reasonOf(error) });
    }
  });
  process.on("disconnect", () => process.exit(0));
}
