import { isAssuredError } from "@assured/core";
import { freePort, RestartablePostgres, useOwnServer } from "@assured/test-services";
import { describe, expect, it } from "vitest";
import { PostgresDedupStore, PostgresEventStore } from "../src/index.js";

const payload = new Uint8Array([1]);
const own = useOwnServer(() => RestartablePostgres.start());

async function expectUnavailable(call: () => Promise<unknown>, what: string): Promise<void> {
  const started = performance.now();
  const error = await call().then(
    () => new Error(`${what} succeeded with the server down`),
    (e: unknown) => e,
  );
  expect(isAssuredError(error, "STORE_UNAVAILABLE"), `${what}: ${String(error)}`).toBe(true);
  // The driver's error is kept as the cause, and the message says what to do.
  expect((error as Error).cause, what).toBeInstanceOf(Error);
  expect((error as Error).message).toContain("retry later");
  expect(performance.now() - started).toBeLessThan(5_000);
}

describe("backend down: every driver error is STORE_UNAVAILABLE with its cause", () => {
  it("wraps connection refused on every method of both stores", async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const poolOptions = { connectionTimeoutMillis: 2_000 };
    const events = new PostgresEventStore({ connection: url, poolOptions });
    const dedup = new PostgresDedupStore({ connection: url, poolOptions });
    await expectUnavailable(() => events.append("s", [{ name: "e", payload }]), "append");
    await expectUnavailable(() => events.read("s", { after: 0, limit: 1 }), "read");
    await expectUnavailable(
      () => events.readPacked("s", { after: 0, limit: 1, maxBytes: 1 }),
      "readPacked",
    );
    await expectUnavailable(() => events.head("s"), "head");
    await expectUnavailable(() => events.reset("s"), "reset");
    await expectUnavailable(() => dedup.claim("k", { leaseMs: 10, fingerprint: "f" }), "claim");
    await expectUnavailable(
      () => dedup.complete("k", "t", { ok: true, payload }, { ttlMs: 10 }),
      "complete",
    );
    await expectUnavailable(() => dedup.release("k", "t"), "release");
    await expectUnavailable(() => dedup.renew("k", "t", 10), "renew");
    await expectUnavailable(
      () => dedup.claimMany([{ key: "k", options: { leaseMs: 10, fingerprint: "f" } }]),
      "claimMany",
    );
    await expectUnavailable(
      () =>
        dedup.completeMany([
          { key: "k", token: "t", response: { ok: true, payload }, options: { ttlMs: 10 } },
        ]),
      "completeMany",
    );
    await events.close();
    await dedup.close();
  });

  it("works once a server that was down when the store was created comes up", async () => {
    const server = await own();
    const events = new PostgresEventStore({ connection: server.url, schema: "late_start" });
    const dedup = new PostgresDedupStore({ connection: server.url, schema: "late_start" });
    try {
      await server.kill();
      await expectUnavailable(
        () => events.append("s", [{ id: "a", name: "e", payload }]),
        "append",
      );
      await expectUnavailable(
        () => dedup.claim("k", { leaseMs: 60_000, fingerprint: "f" }),
        "claim",
      );
      await server.restart();
      // The failed first use (creating the tables) is retried by the next call.
      expect((await events.append("s", [{ id: "a", name: "e", payload }]))[0]).toMatchObject({
        offset: 1,
        duplicate: false,
      });
      expect((await dedup.claim("k", { leaseMs: 60_000, fingerprint: "f" })).status).toBe(
        "claimed",
      );
      // A crash of the server (SIGKILL of every process) loses nothing acknowledged.
      await server.crash();
      const page = await retryUnavailable(() => events.read("s", { after: 0, limit: 10 }));
      expect(page.records.map((r) => r.id)).toEqual(["a"]);
      const again = await retryUnavailable(() =>
        dedup.claim("k", { leaseMs: 60_000, fingerprint: "f" }),
      );
      expect(again.status).toBe("pending");
    } finally {
      await events.close();
      await dedup.close();
    }
  });
});

/** Retries while the pool still hands out connections the crash broke. */
async function retryUnavailable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= 5 || !isAssuredError(error, "STORE_UNAVAILABLE")) throw error;
    }
  }
}
