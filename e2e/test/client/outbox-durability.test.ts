import type { SettledResult } from "@assured/client";
import { MemoryDedupStore } from "@assured/core";
import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { closeAfterEach, eventually, type TestClient, TestServer, testClient } from "./harness.js";

const DAY_MS = 24 * 60 * 60 * 1000;
let server: TestServer | undefined;
const track = closeAfterEach(() => server);

/** Collects `onResult` reports of a client. */
function results(c: TestClient): Map<string, SettledResult> {
  const seen = new Map<string, SettledResult>();
  c.client.onResult((id, result) => {
    seen.set(id, result);
    c.waiter.poke();
  });
  return seen;
}

/** Moves a stored message's creation time back, as if the page had been closed that long. */
async function age(storage: ClientStorage, id: string, byMs: number): Promise<void> {
  const key = `assured:msg:${id}`;
  const stored = JSON.parse((await storage.get(key)) ?? "null") as { createdAt: number };
  expect(stored, "the stored message").not.toBeNull();
  stored.createdAt -= byMs;
  await storage.set(key, JSON.stringify(stored));
}

describe("messages expire, never re-run", () => {
  it("an answer lost while the page closed, the page reopened after the dedup window: EXPIRED, the handler does not run again", async () => {
    let now = Date.now();
    const dedupStore = new MemoryDedupStore({ clock: () => now });
    // Known once the store holds the answer: the server stores responses in groups, a few turns
    // of the event loop after the handler returned (the response window).
    let stored = false;
    const completeMany = dedupStore.completeMany.bind(dedupStore);
    dedupStore.completeMany = async (requests) => {
      const results = await completeMany(requests);
      stored = true;
      return results;
    };
    const complete = dedupStore.complete.bind(dedupStore);
    dedupStore.complete = async (...args) => {
      const result = await complete(...args);
      stored = true;
      return result;
    };
    server = await new TestServer().start({ dedupStore, limits: { dedupTtlMs: 60_000 } });
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.assured.on("pay", async () => {
      runs++;
      await gate;
      return "paid";
    });
    const storage = memoryStorage();
    const first = testClient(server.url, { storage });
    await first.client.connect();
    const paying = first.client.emit("pay", { amount: 5 });
    await eventually(() => runs === 1, "the handler to start");
    const [message] = first.client.pending();
    // The page closes while the handler runs: its answer is lost.
    await first.client.close();
    await expect(paying).rejects.toMatchObject({ code: "CLOSED" });
    release();
    await eventually(() => stored, "the handler's answer to be stored");

    // Two days later: the dedup entry is gone, and the message is two days old.
    now += 2 * DAY_MS;
    await age(storage, message!.id, 2 * DAY_MS);
    const second = track(testClient(server.url, { storage }));
    const settled = results(second);
    await second.client.connect();
    await second.waiter.until(() => settled.has(message!.id), "the message's answer");
    const result = settled.get(message!.id);
    expect(result?.ok).toBe(false);
    expect(result?.ok === false && result.error.code).toBe("EXPIRED");
    expect(runs).toBe(1);
    expect(second.client.pending()).toEqual([]);
  });

  it("messageTtlMs: an older message is answered EXPIRED and does not run; a ttl beyond the server's window is reported at connect", async () => {
    server = await new TestServer().start({ limits: { dedupTtlMs: 60_000 } });
    let runs = 0;
    server.assured.on("note", () => {
      runs++;
      return "ok";
    });
    const storage = memoryStorage();
    const first = testClient(server.url, { storage });
    await server.stop();
    await first.client.connect();
    const sending = first.client.emit("note", 1);
    sending.catch(() => undefined);
    await eventually(() => first.client.pending().length === 1, "the stored message");
    const [message] = first.client.pending();
    await first.client.close();
    await expect(sending).rejects.toMatchObject({ code: "CLOSED" });
    await age(storage, message!.id, 10_000);

    await server.start({ limits: { dedupTtlMs: 60_000 } });
    server.assured.on("note", () => {
      runs++;
      return "ok";
    });
    const second = track(testClient(server.url, { storage, messageTtlMs: 5_000 }));
    const settled = results(second);
    await second.client.connect();
    await second.waiter.until(() => settled.has(message!.id), "the message's answer");
    const result = settled.get(message!.id);
    expect(result?.ok === false && result.error.code).toBe("EXPIRED");
    expect(result?.ok === false && result.error.details).toMatchObject({ ttl: 5_000 });
    expect(runs).toBe(0);
    // A fresh message within the ttl runs.
    expect(await second.client.emit("note", 2)).toBe("ok");

    const third = track(testClient(server.url, { messageTtlMs: 120_000 }));
    await third.client.connect();
    await third.waiter.until(
      () => third.errors.some((e) => (e as { code?: string }).code === "INVALID_ARGUMENT"),
      "the messageTtlMs report",
    );
    expect(third.errors.map((e) => e.message).join()).toContain("messageTtlMs (120000 ms)");
  });
});

describe("storage quota", () => {
  it("a result larger than the storage quota is reported and never blocks later messages", async () => {
    server = await new TestServer().start();
    server.assured.on("big", () => "x".repeat(20_000));
    server.assured.on("small", (n: number) => n * 2);
    const inner = memoryStorage();
    const quotaError = () =>
      Object.assign(new Error("quota exceeded"), { name: "QuotaExceededError" });
    // Every value above 4,000 characters is refused, like a full localStorage.
    const storage: ClientStorage = {
      get: (key) => inner.get(key),
      set: async (key, value) => {
        if (value.length > 4_000) throw quotaError();
        await inner.set(key, value);
      },
      remove: (key) => inner.remove(key),
    };
    const c = track(testClient(server.url, { storage }));
    await c.client.connect();
    const big = await c.client.emit("big", null, { id: "big-1" });
    expect(big).toHaveLength(20_000);
    for (let n = 1; n <= 5; n++) expect(await c.client.emit("small", n)).toBe(n * 2);
    await c.waiter.until(
      () => c.errors.some((e) => (e as { code?: string }).code === "STORE_UNAVAILABLE"),
      "the quota report",
    );
    expect(c.client.pending()).toEqual([]);
    // Another page life learns the message finished, without its value.
    await c.client.close();
    const next = track(testClient(server.url, { storage }));
    await next.client.connect();
    expect(await next.client.result("big-1")).toMatchObject({ ok: true, omitted: true });
  });
});

describe("clients of one process sharing one storage object", () => {
  it("each keeps its own messages; one closed while offline is adopted by the other: every message runs once", async () => {
    server = await new TestServer().start();
    const ran: string[] = [];
    const register = (s: TestServer) =>
      s.assured.on("note", (_data, { id }) => {
        ran.push(id);
        return id;
      });
    register(server);
    await server.stop();
    const storage = memoryStorage();
    const a = track(testClient(server.url, { storage }));
    const b = testClient(server.url, { storage });
    await Promise.all([a.client.connect(), b.client.connect()]);
    const sentA = ["a-1", "a-2", "a-3"];
    const sentB = ["b-1", "b-2", "b-3"];
    const answersA = sentA.map((id) => a.client.emit("note", id, { id }));
    for (const answer of answersA) answer.catch(() => undefined);
    const answersB = sentB.map((id) => b.client.emit("note", id, { id }).catch(() => "closed"));
    await eventually(() => a.client.pending().length === 3, "a's messages stored");
    await eventually(() => b.client.pending().length === 3, "b's messages stored");
    await b.client.close();
    expect(await Promise.all(answersB)).toEqual(["closed", "closed", "closed"]);
    await eventually(() => a.client.pending().length === 6, "b's messages adopted by a");

    const settled = results(a);
    await server.start();
    register(server);
    expect(await Promise.all(answersA)).toEqual(sentA);
    await a.waiter.until(() => sentB.every((id) => settled.has(id)), "b's messages answered");
    expect([...ran].sort()).toEqual([...sentA, ...sentB].sort());
    expect(a.client.pending()).toEqual([]);
  });
});
