import { type RunningService, startFerretDB } from "@assured/test-services";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The Mongo-wire server every test file uses (MONGODB_URL, or FerretDB started for this run). */
    mongodbUrl: string;
    /** True when `mongodbUrl` is the repository's FerretDB test server, started for this run. */
    mongodbIsTestServer: boolean;
  }
}

let server: RunningService | undefined;

/** Uses MONGODB_URL when set; otherwise starts FerretDB (SQLite backend) on a free loopback port. */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.MONGODB_URL;
  if (url === undefined || url === "") {
    server = await startFerretDB();
    url = server.url;
  }
  project.provide("mongodbUrl", url);
  project.provide("mongodbIsTestServer", server !== undefined);
}

/** Stops the FerretDB this run started, if any. */
export async function teardown(): Promise<void> {
  await server?.stop();
  server = undefined;
}
