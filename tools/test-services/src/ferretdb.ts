import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { type RunningService, spawnUntilReady, stopProcess } from "./process.js";

/** Where `scripts/ensure-tools.sh` builds the FerretDB test server (override: FERRETDB_BIN). */
export function ferretdbBinary(): string {
  return process.env.FERRETDB_BIN ?? join(homedir(), ".cache", "assured", "bin", "ferretdb-test");
}

/**
 * Starts FerretDB (MongoDB wire protocol, SQLite backend) on a free loopback port with a fresh
 * data directory. The binary is built from `tools/ferretdb` by `scripts/ensure-tools.sh`.
 */
export async function startFerretDB(options: { port?: number } = {}): Promise<RunningService> {
  const bin = ferretdbBinary();
  if (!existsSync(bin)) {
    throw new Error(`FerretDB test server not found at ${bin}: run bash scripts/ensure-tools.sh`);
  }
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "assured-ferretdb-"));
  const child = await spawnUntilReady(bin, ["-listen", `127.0.0.1:${port}`, "-dir", dir], /ready/);
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    process: child,
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
