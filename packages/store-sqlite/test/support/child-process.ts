import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, "..", "..");

function findTsx(): string {
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", ".bin", "tsx");
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error("tsx not found in any node_modules/.bin");
  }
}

/** How a child process ended. tsx reports its child's signal as exit code 128 + signal. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A Node process running one of `test/fixtures/*.ts`, and the JSON lines it printed. */
export interface FixtureProcess<Line> {
  process: ChildProcessByStdio<Writable, Readable, Readable>;
  /** Every JSON line the child printed so far, parsed. */
  lines: Line[];
  /** Resolves when the child printed its first JSON line. */
  started: Promise<void>;
  /** Resolves once the child has exited. */
  exited: Promise<ChildExit>;
}

/** Spawns `test/fixtures/<fixture>` in its own Node process (through tsx, from source). */
export function spawnFixture<Line>(fixture: string, args: string[]): FixtureProcess<Line> {
  const child = spawn(
    findTsx(),
    ["--conditions=@assured/source", join(here, "..", "fixtures", fixture), ...args],
    { cwd: packageDir, stdio: ["pipe", "pipe", "pipe"] },
  );
  const lines: Line[] = [];
  let markStarted: () => void = () => {};
  const started = new Promise<void>((done) => {
    markStarted = done;
  });
  let buffered = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split("\n");
    buffered = complete.pop()!;
    for (const line of complete) if (line.startsWith("{")) lines.push(JSON.parse(line) as Line);
    if (lines.length > 0) markStarted();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((done) =>
    child.on("exit", (code, signal) => done({ code, signal, stderr })),
  );
  return { process: child, lines, started, exited };
}
