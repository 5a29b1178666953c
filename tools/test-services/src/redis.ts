import { type ChildProcess, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";
import { type RunningService, spawnUntilReady, stopProcess } from "./process.js";

const execFileAsync = promisify(execFile);

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
