import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { childProcesses, processesEnded } from "./child-processes.js";
import { freePort } from "./free-port.js";
import type { RunningService } from "./process.js";

const execFileAsync = promisify(execFile);

/** A PostgreSQL server started for tests. */
export interface RunningPostgres extends RunningService {
  port: number;
  /** The temporary directory holding the cluster (`data/`) and the server's unix socket. */
  dir: string;
  /**
   * Kills the server and every backend with SIGKILL (a crash: nothing flushed, no checkpoint)
   * and resolves once none of them runs any more (backends found through Linux's `/proc`;
   * elsewhere only the postmaster is waited for). The data is kept; `stop()` still removes it.
   */
  crash(): Promise<void>;
}

/** The user id and group id the server runs as: `postgres` when the tests run as root. */
interface RunAs {
  uid: number;
  gid: number;
}

/**
 * The directory of Debian's PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`, the
 * newest installed), or `POSTGRES_BIN_DIR`.
 */
export function postgresBinDir(): string {
  const configured = process.env.POSTGRES_BIN_DIR;
  if (configured !== undefined && configured !== "") return configured;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      `no PostgreSQL found in ${root}: run bash scripts/ensure-tools.sh (or set POSTGRES_URL)`,
    );
  }
  return join(root, versions[0]!, "bin");
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` user. */
async function runAs(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { stdout } = await execFileAsync("id", ["-u", "postgres"]).catch(() => {
    throw new Error("running as root needs a `postgres` user: apt-get install postgresql");
  });
  const { stdout: group } = await execFileAsync("id", ["-g", "postgres"]);
  return { uid: Number(stdout.trim()), gid: Number(group.trim()) };
}

/**
 * Starts the postmaster in a process group of its own (its backends each make their own, so
 * `crash` finds them as its children) and resolves once it logs that it accepts connections.
 */
function spawnPostmaster(
  bin: string,
  args: string[],
  user: RunAs | undefined,
  timeoutMs = 60_000,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, "postgres"), args, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...(user ?? {}),
    });
    let output = "";
    const timer = setTimeout(() => {
      killServer(child);
      reject(new Error(`postgres was not ready after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/database system is ready to accept connections/.test(output)) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.stdout?.off("data", onData);
        child.stderr?.resume();
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start postgres: ${error.message}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited with code ${code} before it was ready:\n${output}`));
    });
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.pid !== undefined) signalProcess(-child.pid, signal);
}

/**
 * SIGKILLs the postmaster and its children; returns the children's ids. Every backend calls
 * setsid(), so the group's SIGKILL reaches the postmaster alone, and a backend that has not
 * noticed its death yet still answers queries. Frozen first, the postmaster forks none while its
 * children are listed (from `/proc`: on Linux only; elsewhere the group alone is killed).
 */
function killServer(child: ChildProcess): number[] {
  let children: number[] = [];
  killGroup(child, "SIGSTOP");
  try {
    children = child.pid === undefined ? [] : childProcesses(child.pid);
    for (const pid of children) signalProcess(pid, "SIGKILL");
  } finally {
    killGroup(child);
  }
  return children;
}

/** Sends `signal` to a process (a group when `pid` is negative); one already gone is fine. */
function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Creates a cluster in `dir/data` (trust authentication, user `postgres`, UTF-8, C locale). */
async function initCluster(bin: string, dir: string, user: RunAs | undefined): Promise<void> {
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  await new Promise<void>((resolve, reject) => {
    const args = ["-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"];
    const child = spawn(join(bin, "initdb"), [...args, "--locale=C", "--no-sync"], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(user ?? {}),
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error) => reject(new Error(`cannot run initdb: ${error.message}`)));
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`initdb failed (${code}):\n${output}`)),
    );
  });
}

/**
 * Starts the postmaster on `dir/data`, retrying for a few seconds while a killed server's
 * lock file or shared memory is still being released.
 */
async function startPostmaster(
  bin: string,
  dir: string,
  port: number,
  user: RunAs | undefined,
): Promise<ChildProcess> {
  const args = [
    ...["-D", join(dir, "data"), "-p", String(port)],
    ...["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${dir}`],
    ...["-c", "fsync=on", "-c", "max_connections=300", "-c", "shared_buffers=32MB"],
  ];
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await spawnPostmaster(bin, args, user);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const busy = /lock file .* already exists|shared memory block is still in use|in use/i;
      if (Date.now() > deadline || !busy.test(message)) throw error;
      // Polling for another process's resources to go away: there is no event to wait for.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts a throwaway PostgreSQL server (Debian's binaries, see `postgresBinDir`) on a free
 * 127.0.0.1 port (or `port`), with `fsync` on, its cluster and unix socket in a new temporary
 * directory (or an existing `dir` holding one, to restart on the same data). As root, initdb and
 * the server run as the `postgres` user, which owns the directory. `stop()` removes it.
 *
 * @example
 * const pg = await startPostgres();
 * await pg.crash();                                              // SIGKILL, data kept
 * const again = await startPostgres({ port: pg.port, dir: pg.dir });
 */
export async function startPostgres(
  options: { port?: number; dir?: string } = {},
): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const user = await runAs();
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(scratchDir(), "assured-postgres-"));
  if (!existsSync(join(dir, "data", "PG_VERSION"))) await initCluster(bin, dir, user);
  const child = await startPostmaster(bin, dir, port, user);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    process: child,
    async crash() {
      if (exited(child)) return;
      const gone = waitForExit(child);
      const children = killServer(child);
      await gone;
      await processesEnded(children);
    },
    async stop() {
      if (!exited(child)) {
        const gone = waitForExit(child);
        // SIGQUIT: immediate shutdown, no checkpoint (the data is thrown away next).
        killGroup(child, "SIGQUIT");
        const timer = setTimeout(() => killServer(child), 5_000);
        await gone;
        clearTimeout(timer);
      }
      // Retried: a server process that outlived the postmaster by a moment may still write.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
}

/**
 * A PostgreSQL server of a test's own that the test may kill and start again on the same port
 * and data directory (a crash, an outage), unlike the shared server of a test run. Its
 * operations run one at a time, in call order: two crashes asked for at once (several stores
 * of a case) are two crashes one after the other, never two servers racing for the data
 * directory.
 *
 * @example
 * const pg = await RestartablePostgres.start();
 * await pg.crash(); // SIGKILL of every server process, then the server again on its data
 */
export class RestartablePostgres {
  #running: RunningPostgres;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(running: RunningPostgres) {
    this.#running = running;
  }

  /** Starts a new server on a fresh cluster. */
  static async start(): Promise<RestartablePostgres> {
    return new RestartablePostgres(await startPostgres());
  }

  /** The server's URL (user `postgres`, database `postgres`), the same across restarts. */
  get url(): string {
    return this.#running.url;
  }

  /** True while the server is not running (killed, not yet started again). */
  get down(): boolean {
    return exited(this.#running.process);
  }

  /** SIGKILLs the server and its backends; resolves once none of them runs. */
  kill(): Promise<void> {
    return this.#serially(() => this.#running.crash());
  }

  /** Starts the server again on the same port and data (a no-op while it runs). */
  restart(): Promise<void> {
    return this.#serially(() => this.#startIfDown());
  }

  /** A crash of the server: SIGKILL, then the server again on the same data (crash recovery). */
  crash(): Promise<void> {
    return this.#serially(async () => {
      await this.#running.crash();
      await this.#startIfDown();
    });
  }

  /** Brings the server back if a test left it killed. */
  revive(): Promise<void> {
    return this.restart();
  }

  /** Stops the server for good and removes its data directory. */
  stop(): Promise<void> {
    return this.#serially(() => this.#running.stop());
  }

  async #startIfDown(): Promise<void> {
    if (!this.down) return;
    const { port, dir } = this.#running;
    this.#running = await startPostgres({ port, dir });
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

/** tmpfs when the machine has one (fsync is free there), else the system's temporary directory. */
function scratchDir(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}
