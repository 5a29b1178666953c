import { type ChildProcess, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";
import { type RunningService, spawnUntilReady, stopProcess } from "./process.js";

const execFileAsync = promisify(execFile);

/** A `redis-server` started for tests. */
export interface RunningRedis extends RunningService {
  port: number;
  /** The data directory (pass it to `startRedis` with `port` to restart on the same data). */
  dir: string;
  /**
   * Kills the server with SIGKILL (a crash: nothing is flushed) and resolves once it has exited.
   * The data directory is kept; `stop()` still removes it.
   */
  crash(): Promise<void>;
}

/** How `startRedis` runs the server. */
export interface RedisOptions {
  /** Loopback port (default: a free one). */
  port?: number;
  /** Data directory (default: a new temporary one); `stop()` removes it. */
  dir?: string;
  /**
   * `appendonly yes` with `appendfsync always`: every acknowledged write is on disk, so a
   * SIGKILLed server restarted on the same `dir` loses nothing. Default false (no persistence:
   * a restart on the same `dir` comes back empty unless a `dump.rdb` was put there).
   */
  appendonly?: boolean;
}

/**
 * Starts `redis-server` on a free loopback port (or `port`) in a temporary directory (or
 * `dir`), without persistence unless `appendonly`. Set `REDIS_SERVER_BIN` to use another binary.
 *
 * @example
 * const redis = await startRedis({ appendonly: true });
 * await redis.crash();                                       // SIGKILL, data kept
 * const again = await startRedis({ port: redis.port, dir: redis.dir, appendonly: true });
 */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "assured-redis-"));
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  const persistence = options.appendonly
    ? ["--appendonly", "yes", "--appendfsync", "always"]
    : ["--appendonly", "no"];
  const child = await spawnUntilReady(
    bin,
    ["--bind", "127.0.0.1", "--port", String(port), "--save", "", ...persistence, "--dir", dir],
    /Ready to accept connections/,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
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

/** A Redis Cluster started for tests: its masters' loopback addresses and a way to stop it. */
export interface RunningRedisCluster {
  /** The masters, each serving a share of the 16,384 hash slots. */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster of `masters` (default 3) `redis-server` processes on free loopback
 * ports, without persistence, and resolves once every node reports `cluster_state:ok`.
 * Needs `redis-cli` (or `REDIS_CLI_BIN`) to create the cluster.
 */
export async function startRedisCluster(
  options: { masters?: number } = {},
): Promise<RunningRedisCluster> {
  const masters = options.masters ?? 3;
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  const cli = process.env.REDIS_CLI_BIN ?? "redis-cli";
  const started: { port: number; child: ChildProcess; dir: string }[] = [];
  const stop = async () => {
    await Promise.all(started.map((node) => stopProcess(node.child)));
    for (const node of started) rmSync(node.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const busPort = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "assured-redis-cluster-"));
      const args = [
        ...["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
        ...["--dir", dir, "--cluster-enabled", "yes", "--cluster-port", String(busPort)],
        ...["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"],
      ];
      const child = await spawnUntilReady(bin, args, /Ready to accept connections/);
      started.push({ port, child, dir });
    }
    const addresses = started.map((node) => `127.0.0.1:${node.port}`);
    await execFileAsync(cli, [
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    for (const node of started) await waitForClusterOk(cli, node.port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: started.map((node) => ({ host: "127.0.0.1", port: node.port })), stop };
}

async function waitForClusterOk(cli: string, port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await execFileAsync(cli, ["-p", String(port), "cluster", "info"]);
    if (stdout.includes("cluster_state:ok")) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster node ${port} not ok:\n${stdout}`);
    // Polling an external process's state: there is no event to wait for.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
