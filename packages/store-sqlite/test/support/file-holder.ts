import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const fixture = fileURLToPath(new URL("../fixtures/file-holder.ts", import.meta.url));
const packageDir = fileURLToPath(new URL("../..", import.meta.url));

/** A child process holding a SQLite file's write lock until `kill` (SIGKILL). */
export interface FileHolder {
  /** SIGKILLs it; resolves once it has exited (its locks are gone then). Idempotent. */
  kill(): Promise<void>;
}

/**
 * Starts `test/fixtures/file-holder.ts` on `path` in `mode` (one Node process, TypeScript loaded
 * by tsx's loader, so the pid killed is the one holding the lock) and resolves once it holds
 * the write lock; rejects with its stderr if it exits first.
 */
export async function holdFile(path: string, mode: "write" | "lock"): Promise<FileHolder> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, path, mode], {
    cwd: packageDir,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = once(child, "exit");
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  let stdout = "";
  const held = new Promise<void>((resolve) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('{"held":true}')) resolve();
    });
  });
  const first = await Promise.race([held.then(() => "held" as const), exited]);
  if (first !== "held") {
    throw new Error(`file-holder ${mode} exited before holding ${path}: ${stderr}`);
  }
  let killed: Promise<void> | undefined;
  return {
    kill() {
      killed ??= (async () => {
        child.kill("SIGKILL");
        await exited;
      })();
      return killed;
    },
  };
}
