import { type RunningPostgres, startPostgres } from "@assured/test-services";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The PostgreSQL server every test file shares (POSTGRES_URL, or one started for this run). */
    postgresUrl: string;
  }
}

let server: RunningPostgres | undefined;

/** Uses POSTGRES_URL when set; otherwise starts a throwaway PostgreSQL on a free loopback port. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.POSTGRES_URL;
  if (url === undefined || url === "") {
    server = await startPostgres();
    url = server.url;
  }
  project.provide("postgresUrl", url);
}

/** Stops the server this run started, if any, and deletes its data. */
export async function teardown(): Promise<void> {
  await server?.stop();
  server = undefined;
}
