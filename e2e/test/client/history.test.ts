import type { AssuredClient, HistoryEvent, HistoryPage } from "@assured/client";
import { MemoryEventStore } from "@assured/core";
import { afterEach, describe, expect, it } from "vitest";
import { range, type TestClient, TestServer, testClient } from "./harness.js";

const S = "room:1";
let server: TestServer;
let c: TestClient | undefined;

afterEach(async () => {
  await c?.client.close();
  c = undefined;
  await server?.stop();
});

/** Reads every page of `stream` from the head down; returns the pages, newest first. */
async function allPages(
  client: AssuredClient,
  stream: string,
  limit: number,
): Promise<HistoryPage[]> {
  const pages: HistoryPage[] = [];
  let before: number | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await client.history(stream, before === undefined ? { limit } : { before, limit });
    pages.push(page);
    if (!page.more) return pages;
    before = (page.events[0] as HistoryEvent).offset;
  }
  throw new Error("history never ended");
}

/** The `n` of every tick event of the pages, oldest first. */
function numbers(pages: HistoryPage[]): number[] {
  return [...pages].reverse().flatMap((p) => p.events.map((e) => (e.data as { n: number }).n));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("client.history", () => {
  it("pages backwards through a stream the client is not subscribed to: no gaps, no duplicates, `more` false at the end", async () => {
    server = await new TestServer().start();
    await server.publishMany(S, 1, 250);
    c = testClient(server.url);
    await c.client.connect();
    const pages = await allPages(c.client, S, 100);
    expect(pages.map((p) => p.events.length)).toEqual([100, 100, 50]);
    expect(pages.map((p) => p.more)).toEqual([true, true, false]);
    expect(numbers(pages)).toEqual(range(1, 250));
    const newest = pages[0] as HistoryPage;
    const last = newest.events[99] as HistoryEvent;
    // The shape a handler sees: decoded data and the event's metadata.
    expect(last).toMatchObject({ stream: S, offset: 250, name: "tick", data: { n: 250 } });
    expect(last.epoch).toBe(newest.epoch);
    expect(typeof last.id).toBe("string");
    expect(typeof last.time).toBe("number");
    // Reading history subscribes nothing and stores no position.
    expect(c.client.position(S)).toBeNull();
    expect(c.seen.size).toBe(0);
    expect(c.errors).toEqual([]);
  });

  it("stops at the retained start of the log (retention)", async () => {
    server = await new TestServer(new MemoryEventStore({ retention: { maxLength: 30 } })).start();
    await server.publishMany(S, 1, 100);
    c = testClient(server.url);
    await c.client.connect();
    const page = await c.client.history(S, { limit: 50 });
    expect(page.events.map((e) => e.offset)).toEqual(range(71, 100));
    expect(page.more).toBe(false);
    const older = await c.client.history(S, { before: 80, limit: 5 });
    expect(older.events.map((e) => e.offset)).toEqual(range(75, 79));
    expect(older.more).toBe(true);
    // Asking below the retained start (even with a limit that reaches it) gives nothing more.
    expect(await c.client.history(S, { before: 71 })).toMatchObject({ events: [], more: false });
    expect(await c.client.history(S, { before: 60, limit: 40 })).toMatchObject({
      events: [],
      more: false,
    });
    // A stream that has no events at all.
    expect(await c.client.history("empty")).toMatchObject({ events: [], more: false });
  });

  it("is authorized like a fetch: a stream the socket may not read is refused with UNAUTHORIZED", async () => {
    const asked: [string, string][] = [];
    server = await new TestServer().start({
      authorize: (_socket, stream, action) => {
        asked.push([stream, action]);
        return stream !== "secret";
      },
    });
    await server.publishMany("secret", 1, 3);
    c = testClient(server.url);
    await c.client.connect();
    expect(await rejection(c.client.history("secret"))).toMatchObject({
      code: "UNAUTHORIZED",
      details: { stream: "secret" },
    });
    expect(asked).toContainEqual(["secret", "fetch"]);
    expect((await c.client.history(S)).events).toEqual([]);
  });

  it("rejects bad arguments with typed codes, naming the closest option", async () => {
    server = await new TestServer().start();
    c = testClient(server.url, { fetchLimit: 100 });
    await c.client.connect();
    const h = (stream: unknown, options?: unknown) =>
      rejection((c as TestClient).client.history(stream as string, options as never));
    expect(await h("")).toMatchObject({ code: "INVALID_STREAM" });
    expect(await h(42)).toMatchObject({ code: "INVALID_STREAM" });
    const typo = (await h(S, { limt: 5 })) as Error;
    expect(typo).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(typo.message).toContain('"limit"');
    expect(await h(S, "before")).toMatchObject({ code: "INVALID_ARGUMENT" });
    for (const before of [0, -1, 1.5, "3", Number.NaN]) {
      expect(await h(S, { before })).toMatchObject({ code: "INVALID_OFFSET" });
    }
    for (const limit of [0, -3, 2.5, "10", 101]) {
      expect(await h(S, { limit })).toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    // The client's fetchLimit itself is allowed.
    expect((await c.client.history(S, { limit: 100 })).events).toEqual([]);
  });

  it("without a limit, reads a page of 50, or of the client's fetchLimit when that is lower", async () => {
    server = await new TestServer().start();
    await server.publishMany(S, 1, 60);
    c = testClient(server.url, { fetchLimit: 20 });
    await c.client.connect();
    const page = await c.client.history(S);
    expect(page.events.map((e) => e.offset)).toEqual(range(41, 60));
    expect(page.more).toBe(true);
    const wide = testClient(server.url);
    try {
      await wide.client.connect();
      expect((await wide.client.history(S)).events.map((e) => e.offset)).toEqual(range(11, 60));
    } finally {
      await wide.client.close();
    }
  });

  it("is bounded by the server's fetchLimit: a larger limit gets a shorter page, and `more`", async () => {
    server = await new TestServer().start({ limits: { fetchLimit: 20 } });
    await server.publishMany(S, 1, 50);
    c = testClient(server.url);
    await c.client.connect();
    const pages = await allPages(c.client, S, 100);
    expect(pages.map((p) => p.events.length)).toEqual([20, 20, 10]);
    expect(numbers(pages)).toEqual(range(1, 50));
  });

  it("returns fewer, newest-first records when their payloads exceed maxBatchBytes, and still progresses", async () => {
    const maxBatchBytes = 4096;
    server = await new TestServer().start({
      limits: { maxBatchBytes, maxPayloadBytes: 16 * 1024 },
    });
    const pad = "x".repeat(1500);
    for (let n = 1; n <= 9; n++) await server.assured.publish(S, "tick", { n, pad });
    // One event larger than maxBatchBytes travels alone.
    await server.assured.publish(S, "tick", { n: 10, pad: "y".repeat(6000) });
    c = testClient(server.url);
    await c.client.connect();
    const pages = await allPages(c.client, S, 50);
    expect(pages[0]?.events.map((e) => e.offset)).toEqual([10]);
    expect(pages[1]?.events.map((e) => e.offset)).toEqual([8, 9]);
    for (const page of pages.slice(1)) expect(page.events.length).toBeLessThanOrEqual(2);
    expect(numbers(pages)).toEqual(range(1, 10));
    expect(pages.at(-1)?.more).toBe(false);
  });

  it("does not disturb live delivery of the stream it reads: events keep arriving in order, the position is the handlers'", async () => {
    server = await new TestServer().start({ limits: { fetchLimit: 10 } });
    await server.publishMany(S, 1, 100);
    c = testClient(server.url);
    c.client.subscribe(S, { from: "earliest" });
    await c.client.connect();
    await c.ticks(S, 100);
    const live = server.publishMany(S, 101, 200);
    // Page the whole stream several times while live events are published and delivered.
    const paged: number[][] = [];
    for (let round = 0; round < 3; round++) {
      const pages = await allPages(c.client, S, 30);
      paged.push(numbers(pages));
    }
    await live;
    expect(await c.ticks(S, 300)).toEqual(range(1, 300));
    for (const seen of paged) expect(seen).toEqual(range(1, seen.length));
    await c.waiter.until(() => c?.client.position(S)?.offset === 300, "position 300");
    expect(c.outcomes).toHaveLength(1);
    expect(c.errors).toEqual([]);
  });

  it("waits for the connection within ackTimeoutMs: TIMEOUT when it never comes, a page once it does", async () => {
    server = await new TestServer().start();
    await server.publishMany(S, 1, 3);
    c = testClient(server.url, { ackTimeoutMs: 150 });
    // Never connected: nothing to ask within ackTimeoutMs.
    expect(await rejection(c.client.history(S))).toMatchObject({
      code: "TIMEOUT",
      details: { stream: S },
    });
    // Asked before connect(): answered once the socket connects.
    const early = c.client.history(S);
    await c.client.connect();
    expect((await early).events.map((e) => e.offset)).toEqual([1, 2, 3]);
  });

  it("rejects waiting and later calls with CLOSED after close()", async () => {
    server = await new TestServer().start();
    c = testClient(server.url, { ackTimeoutMs: 10_000 });
    const waiting = c.client.history(S);
    await c.client.close();
    expect(await rejection(waiting)).toMatchObject({ code: "CLOSED" });
    expect(await rejection(c.client.history(S))).toMatchObject({ code: "CLOSED" });
  });
});
