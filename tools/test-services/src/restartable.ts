import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningFerretDB, startFerretDB } from "./ferretdb.js";
import { freePort } from "./free-port.js";
import { type RunningRedis, startRedis } from "./redis.js";

/**
 * A server process of a test's own that the test may kill and start again on the same loopback
 * port and data directory (a crash, an outage), unlike the shared server of a test run.
 *
 * @example
 * const redis = await RestartableServer.redis();
 * const store = new RedisEventStore({ redis: redis.url });
 * await redis.crash(); // SIGKILL, then the same server again on its data
 */
export class RestartableServer {
  #running: RunningRedis | RunningFerretDB;
  #paused = false;
  readonly #startAgain: () => Promise<RunningRedis | RunningFerretDB>;

  private constructor(
    running: RunningRedis | RunningFerretDB,
    startAgain: () => Promise<RunningRedis | RunningFerretDB>,
  ) {
    this.#running = running;
    this.#startAgain = startAgain;
  }

  /**
   * A `redis-server` with `appendonly yes` and `appendfsync always` (every acknowledged write
   * survives a SIGKILL), its data on tmpfs when the machine has one (fsync costs nothing there).
   */
  static async redis(): Promise<RestartableServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(scratchDir(), "assured-redis-"));
    const start = () => startRedis({ port, dir, appendonly: true });
    return new RestartableServer(await start(), start);
  }

  /** A FerretDB on its own SQLite data directory (on tmpfs when the machine has one). */
  static async ferretdb(): Promise<RestartableServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(scratchDir(), "assured-ferretdb-"));
    const start = () => startFerretDB({ port, dir });
    return new RestartableServer(await start(), start);
  }

  /** The server's URL, the same across restarts. */
  get url(): string {
    return this.#running.url;
  }

  /** True while the process is not running (killed, not yet started again). */
  get down(): boolean {
    const child = this.#running.process;
    return child.exitCode !== null || child.signalCode !== null;
  }

  /** SIGKILLs the process (nothing flushed, no goodbye to clients); resolves once it is gone. */
  async kill(): Promise<void> {
    await this.#running.crash();
    this.#paused = false;
  }

  /** Starts the server again on the same port and data; resolves once it accepts clients. */
  async start(): Promise<void> {
    if (!this.down) throw new Error(`the server at ${this.url} is still running`);
    this.#running = await this.#startAgain();
  }

  /** A crash of the server: `kill`, then `start` on the same data. */
  async crash(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * Freezes the process with SIGSTOP: its port still accepts connections (the kernel answers)
   * but nothing is ever replied, as with a hung server or a network partition.
   */
  pause(): void {
    if (this.down || this.#paused) return;
    this.#running.process.kill("SIGSTOP");
    this.#paused = true;
  }

  /** Lets a paused process run again (SIGCONT); it then answers what it was sent meanwhile. */
  resume(): void {
    if (!this.#paused) return;
    this.#running.process.kill("SIGCONT");
    this.#paused = false;
  }

  /** Brings the server back if a test left it paused or killed; resolves once it answers. */
  async revive(): Promise<void> {
    this.resume();
    if (this.down) await this.start();
  }

  /** Stops the server for good and removes its data directory. */
  async stop(): Promise<void> {
    this.resume();
    await this.#running.stop();
  }
}

/** tmpfs when the machine has one (fsync is free there), else the system's temporary directory. */
function scratchDir(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}
