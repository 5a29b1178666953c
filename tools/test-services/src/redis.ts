import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { type RunningService, spawnUntilReady, stopProcess } from "./process.js";

/**
 * Starts `redis-server` on a free loopback port, without persistence, in a temporary directory.
 * Set `REDIS_SERVER_BIN` to use another binary.
 */
export async function startRedis(options: { port?: number } = {}): Promise<RunningService> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "assured-redis-"));
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  const child = await spawnUntilReady(
    bin,
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    /Ready to accept connections/,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    process: child,
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
