import { type RunningService, startRedis } from "@assured/test-services";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The Redis every test file uses (REDIS_URL, or a redis-server started for this run). */
    redisUrl: string;
  }
}

let server: RunningService | undefined;

/** Uses REDIS_URL when set; otherwise starts a private redis-server on a free loopback port. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (url === undefined) {
    server = await startRedis();
    url = server.url;
  }
  project.provide("redisUrl", url);
}

/** Stops the redis-server this run started, if any. */
export async function teardown(): Promise<void> {
  await server?.stop();
  server = undefined;
}
