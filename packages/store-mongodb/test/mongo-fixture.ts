import { MongoClient } from "mongodb";
import { afterAll, inject } from "vitest";

/** The URL of the server under test (see global-setup.ts). */
export const mongodbUrl = inject("mongodbUrl");

/** True when the server is the repository's FerretDB test server (tools/ferretdb), not MONGODB_URL. */
export const isTestServer = inject("mongodbIsTestServer");

let counter = 0;

/** A database name no other test (file or run) uses. */
export function isolatedDatabase(label: string): string {
  counter++;
  return `${label}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/**
 * A client for the test file, closed after it. `maxPoolSize` stays small: many stores and
 * clients share one FerretDB on a busy machine.
 */
export function useClient(): () => MongoClient {
  let client: MongoClient | undefined;
  afterAll(async () => {
    await client?.close();
  });
  return () => {
    client ??= new MongoClient(mongodbUrl, { maxPoolSize: 20 });
    return client;
  };
}

/** A new client of its own (another "process view"); the caller closes it. */
export function newClient(): MongoClient {
  return new MongoClient(mongodbUrl, { maxPoolSize: 4 });
}
