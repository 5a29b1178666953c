import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { type RunningService, spawnUntilReady, stopProcess } from "./process.js";

/** Where `scripts/ensure-tools.sh` builds the FerretDB test server (override: FERRETDB_BIN). */
export function ferretdbBinary(): string {
  return process.env.FERRETDB_BIN ?? join(homedir(), ".cache", "assured", "bin", "ferretdb-test-2");
}

/** A FerretDB started for tests. */
export interface RunningFerretDB extends RunningService {
  /** The SQLite data directory (pass it to `startFerretDB` to restart on the same data). */
  dir: string;
  /**
   * Kills the server with SIGKILL (a crash: no graceful shutdown, which would wait for clients)
   * and resolves once it has exited. The data directory is kept; `stop()` still removes it.
   */
  crash(): Promise<void>;
}

/**
 * Starts FerretDB (MongoDB wire protocol, SQLite backend) on a free loopback port with a fresh
 * data directory, or on `port` with the data in `dir`. The binary is built from `tools/ferretdb`
 * by `scripts/ensure-tools.sh`; it prints "ready" once it accepts connections.
 *
 * @example
 * const db = await startFerretDB();
 * await db.crash();                                        // the server is down
 * const again = await startFerretDB({ port: Number(new URL(db.url).port), dir: db.dir });
 */
export async function startFerretDB(
  options: { port?: number; dir?: string } = {},
): Promise<RunningFerretDB> {
  const bin = ferretdbBinary();
  if (!existsSync(bin)) {
    throw new Error(`FerretDB test server not found at ${bin}: run bash scripts/ensure-tools.sh`);
  }
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "assured-ferretdb-"));
  const child = await spawnUntilReady(bin, ["-listen", `127.0.0.1:${port}`, "-dir", dir], /ready/);
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    process: child,
    dir,
    async crash() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      });
    },
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
